import fc from 'fast-check'
import t, { type Test } from 'tap'
import { ageOn, isValidNationalId, nationalIdCheckDigit, parseNationalId } from '../src/shared/national-id.js'
import { badNationalIds } from './fuzz-support.js'

// Fixed so that runs are reproducible; the boundary tests below use dates around it.
const TODAY = new Date('2024-06-15T12:00:00Z')
const ALPHABET = '0123456789X'
const PROVINCES = [
  '11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35', '36', '37',
  '41', '42', '43', '44', '45', '46', '50', '51', '52', '53', '54', '61', '62', '63', '64', '65',
  '71', '81', '82'
]
const MESSAGES = new Set([
  'must be 18 characters',
  'must be 17 digits followed by a digit or X',
  'check digit does not match',
  'first two digits are not a province code',
  'birth date is not a real date',
  'birth date is before 1900',
  'birth date is in the future'
])

/** ISO 7064 MOD 11-2 written from its definition (weights 2^(17-i) mod 11), as an oracle independent of the weight table. */
function oracleCheck (first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * (2 ** (17 - i) % 11)
  const v = (12 - (sum % 11)) % 11
  return v === 10 ? 'X' : String(v)
}

const digitString = (n: number): fc.Arbitrary<string> =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map(a => a.join(''))

const validId = fc.record({
  province: fc.constantFrom(...PROVINCES),
  area: digitString(4),
  birth: fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: TODAY, noInvalidDate: true }),
  sequence: digitString(3)
}).map(({ province, area, birth, sequence }) => {
  const birthDate = birth.toISOString().slice(0, 10)
  const first17 = province + area + birthDate.replaceAll('-', '') + sequence
  return { id: first17 + oracleCheck(first17), birthDate, sex: Number(sequence[2]) % 2 === 1 ? 'MALE' : 'FEMALE' }
})

/** Builds a number with a correct check digit, so that other rules are what fails. */
const withCheck = (first17: string): string => first17 + oracleCheck(first17)

function rejected (t: Test, input: string, message: string, today = TODAY): void {
  const r = parseNationalId(input, today)
  t.same(r, { ok: false, message })
  t.notOk(isValidNationalId(input, today))
}

/**
 * The rules written one by one, with regular expressions and substrings, as an oracle for
 * the one-pass parser: the same verdict and message for any input, the same value, birth
 * date and sex for a valid one.
 */
function oracleParse (input: string, today: Date): ReturnType<typeof parseNationalId> {
  const value = input.trim().replace(/x$/, 'X')
  const fail = (message: string): ReturnType<typeof parseNationalId> => ({ ok: false, message })
  if (value.length !== 18) return fail('must be 18 characters')
  if (!/^[0-9]{17}[0-9X]$/.test(value)) return fail('must be 17 digits followed by a digit or X')
  if (oracleCheck(value.slice(0, 17)) !== value[17]) return fail('check digit does not match')
  if (!PROVINCES.includes(value.slice(0, 2))) return fail('first two digits are not a province code')
  const [y, m, d] = [value.slice(6, 10), value.slice(10, 12), value.slice(12, 14)]
  const date = new Date(`${y}-${m}-${d}T00:00:00Z`)
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== `${y}-${m}-${d}`) return fail('birth date is not a real date')
  if (Number(y) < 1900) return fail('birth date is before 1900')
  if (`${y}-${m}-${d}` > today.toISOString().slice(0, 10)) return fail('birth date is in the future')
  return { ok: true, value, birthDate: `${y}-${m}-${d}`, sex: Number(value[16]) % 2 === 1 ? 'MALE' : 'FEMALE' }
}

t.test('the one-pass parser agrees with the rules written one by one, for any input', async (t) => {
  // Near misses of valid numbers (a character changed, inserted or removed, space or a
  // lower-case x around), strings of the number's alphabet, and any string at all.
  const nearMiss = fc.tuple(validId, fc.nat(19), fc.constantFrom(...'0123456789Xx ab\u0660\uff11-'), fc.constantFrom('set', 'insert', 'remove', 'pad'))
    .map(([{ id }, i, c, how]) => how === 'set' ? id.slice(0, i) + c + id.slice(i + 1)
      : how === 'insert' ? id.slice(0, i) + c + id.slice(i)
        : how === 'remove' ? id.slice(0, i) + id.slice(i + 1)
          : ` ${id.slice(0, 17)}${i % 2 === 0 ? 'x' : id[17]!}\t`)
  const input = fc.oneof(nearMiss, validId.map(v => v.id), fc.string({ unit: fc.constantFrom(...ALPHABET, 'x', ' '), minLength: 16, maxLength: 20 }), fc.string({ maxLength: 24 }))
  const today = fc.date({ min: new Date('1899-01-01T00:00:00Z'), max: new Date('2100-12-31T00:00:00Z'), noInvalidDate: true })
  fc.assert(fc.property(input, today, (s, day) => JSON.stringify(parseNationalId(s, day)) === JSON.stringify(oracleParse(s, day))), { numRuns: 5000 })
  t.pass('5,000 inputs')
})

t.test('nationalIdCheckDigit agrees with MOD 11-2 from its definition', async (t) => {
  fc.assert(fc.property(digitString(17), f => nationalIdCheckDigit(f) === oracleCheck(f)), { numRuns: 2000 })
  t.equal(nationalIdCheckDigit('11010519491231002'), 'X') // the example in GB 11643-1999
  t.equal(nationalIdCheckDigit('44052418800101001'), '4')
  t.throws(() => nationalIdCheckDigit('1234'), RangeError)
  t.throws(() => nationalIdCheckDigit('1101051949123100X'), RangeError)
})

t.test('generated valid numbers pass and give back birth date and sex', async (t) => {
  fc.assert(fc.property(validId, ({ id, birthDate, sex }) => {
    const r = parseNationalId(id, TODAY)
    return r.ok && r.value === id && r.birthDate === birthDate && r.sex === sex && isValidNationalId(id, TODAY)
  }), { numRuns: 3000 })
})

t.test('surrounding white space and a lower-case final x are normalised away', async (t) => {
  fc.assert(fc.property(validId, fc.constantFrom('', ' ', '\t', '\n', '\u3000'), fc.constantFrom('', ' ', '\r\n'), ({ id }, before, after) => {
    const r = parseNationalId(before + id.toLowerCase() + after, TODAY)
    return r.ok && r.value === id
  }), { numRuns: 500 })
})

t.test('any single-character substitution fails', async (t) => {
  fc.assert(fc.property(validId, fc.integer({ min: 0, max: 17 }), fc.integer({ min: 1, max: 10 }), ({ id }, pos, shift) => {
    const other = ALPHABET[(ALPHABET.indexOf(id[pos]!) + shift) % 11]!
    const changed = id.slice(0, pos) + other + id.slice(pos + 1)
    const r = parseNationalId(changed, TODAY)
    return !r.ok && MESSAGES.has(r.message) && !isValidNationalId(changed, TODAY)
  }), { numRuns: 5000 })
})

t.test('every substitution at every position of one number fails', async (t) => {
  const id = withCheck('41122419800101123')
  t.ok(isValidNationalId(id, TODAY))
  for (let pos = 0; pos < 18; pos++) {
    for (const c of ALPHABET) {
      if (c === id[pos]) continue
      t.notOk(isValidNationalId(id.slice(0, pos) + c + id.slice(pos + 1), TODAY), `position ${pos} → ${c}`)
    }
  }
})

t.test('swapping two adjacent different characters fails', async (t) => {
  fc.assert(fc.property(validId, fc.integer({ min: 0, max: 16 }), ({ id }, pos) => {
    fc.pre(id[pos] !== id[pos + 1])
    const swapped = id.slice(0, pos) + id[pos + 1]! + id[pos]! + id.slice(pos + 2)
    return !isValidNationalId(swapped, TODAY)
  }), { numRuns: 5000 })
})

t.test('error messages never contain the input', async (t) => {
  const mutated = fc.tuple(validId, fc.integer({ min: 0, max: 17 }), fc.constantFrom(...'0123456789XxA -')).map(([{ id }, pos, c]) => id.slice(0, pos) + c + id.slice(pos + 1))
  const lengths = fc.tuple(validId, fc.integer({ min: 1, max: 17 })).map(([{ id }, n]) => id.slice(0, n))
  const longer = fc.tuple(validId, digitString(3)).map(([{ id }, extra]) => id + extra)
  fc.assert(fc.property(fc.oneof(mutated, lengths, longer, fc.string({ unit: 'binary' })), input => {
    const r = parseNationalId(input, TODAY)
    if (r.ok) return true
    // Messages come from a fixed set, and none holds more than a year's worth of digits.
    return MESSAGES.has(r.message) && (input.trim().length < 3 || !r.message.includes(input.trim()))
  }), { numRuns: 5000 })
  for (const m of MESSAGES) t.notMatch(m, /\d{5}/)
})

t.test('examples', async (t) => {
  t.test('a real-looking number from 卢氏县', async (t) => {
    const id = withCheck('41122419800101123')
    t.equal(id, '411224198001011234')
    t.same(parseNationalId(id, TODAY), { ok: true, value: id, birthDate: '1980-01-01', sex: 'MALE' })
    t.same(parseNationalId('11010519491231002X', TODAY), { ok: true, value: '11010519491231002X', birthDate: '1949-12-31', sex: 'FEMALE' })
  })
  t.test('lower-case x is normalised', async (t) => {
    t.same(parseNationalId(' 11010519491231002x ', TODAY), { ok: true, value: '11010519491231002X', birthDate: '1949-12-31', sex: 'FEMALE' })
  })
  t.test('the 陕县 code 411222, gone since 2015, is still accepted', async (t) => {
    const id = withCheck('41122219750315123')
    t.same(parseNationalId(id, TODAY), { ok: true, value: id, birthDate: '1975-03-15', sex: 'MALE' })
  })
  t.test('dates that do not exist are rejected', async (t) => {
    rejected(t, withCheck('41122419990229123'), 'birth date is not a real date')
    rejected(t, withCheck('41122420230431123'), 'birth date is not a real date')
    rejected(t, withCheck('41122419801301123'), 'birth date is not a real date')
    rejected(t, withCheck('41122419800100123'), 'birth date is not a real date')
    rejected(t, withCheck('41122419000229123'), 'birth date is not a real date') // 1900 was not a leap year
    t.ok(isValidNationalId(withCheck('41122420000229123'), TODAY)) // 2000 was
  })
  t.test('birth dates before 1900 are rejected', async (t) => {
    rejected(t, '440524188001010014', 'birth date is before 1900')
    rejected(t, withCheck('41122418991231123'), 'birth date is before 1900')
    t.ok(isValidNationalId(withCheck('41122419000101123'), TODAY))
  })
  t.test('future birth dates are rejected, comparing UTC dates', async (t) => {
    t.ok(isValidNationalId(withCheck('41122420240615123'), TODAY))
    rejected(t, withCheck('41122420240616123'), 'birth date is in the future')
    rejected(t, withCheck('41122430000101123'), 'birth date is in the future', new Date())
    // 23:30 on 15 June at UTC-2 is already 16 June in UTC.
    t.ok(isValidNationalId(withCheck('41122420240616123'), new Date('2024-06-15T23:30:00-02:00')))
    rejected(t, withCheck('41122420240616123'), 'birth date is in the future', new Date('2024-06-16T07:00:00+08:00'))
    t.throws(() => parseNationalId('411224198001011234', new Date('nonsense')), RangeError)
  })
  t.test('province codes not in the list are rejected', async (t) => {
    rejected(t, withCheck('99123419800101123'), 'first two digits are not a province code')
    rejected(t, withCheck('00123419800101123'), 'first two digits are not a province code')
    rejected(t, withCheck('83000019800101123'), 'first two digits are not a province code')
    rejected(t, withCheck('16123419800101123'), 'first two digits are not a province code')
  })
  t.test('wrong length', async (t) => {
    rejected(t, '', 'must be 18 characters')
    rejected(t, '   ', 'must be 18 characters')
    rejected(t, '41122419800101123', 'must be 18 characters')
    rejected(t, '4112241980010112344', 'must be 18 characters')
    rejected(t, '411224800101123', 'must be 18 characters') // the old 15-digit form
  })
  t.test('letters and other characters', async (t) => {
    rejected(t, '41122419800101X234', 'must be 17 digits followed by a digit or X')
    rejected(t, '41122419800101123A', 'must be 17 digits followed by a digit or X')
    rejected(t, 'A11224198001011234', 'must be 17 digits followed by a digit or X')
    rejected(t, '411224 98001011234', 'must be 17 digits followed by a digit or X')
    rejected(t, '４１１２２４１９８００１０１１２３４', 'must be 17 digits followed by a digit or X') // full-width digits
    rejected(t, '411224198001011235', 'check digit does not match')
  })
})

t.test('ageOn', async (t) => {
  t.equal(ageOn('2010-09-01', '2016-09-01'), 6, 'birthday on the day')
  t.equal(ageOn('2010-09-01', '2016-08-31'), 5, 'the day before')
  t.equal(ageOn('2010-09-01', '2010-09-01'), 0, 'day of birth')
  t.equal(ageOn('2010-09-01', '2011-08-31'), 0)
  t.equal(ageOn('2010-09-01', '2010-12-31'), 0)
  t.equal(ageOn('2010-12-31', '2011-01-01'), 0)
  t.equal(ageOn('2008-02-29', '2009-02-28'), 0, 'Feb 29: not yet on Feb 28 of a common year')
  t.equal(ageOn('2008-02-29', '2009-03-01'), 1, 'Feb 29: a year older on Mar 1 of a common year')
  t.equal(ageOn('2008-02-29', '2012-02-28'), 3)
  t.equal(ageOn('2008-02-29', '2012-02-29'), 4, 'Feb 29: on the day in a leap year')
  t.equal(ageOn('1949-12-31', '2020-12-31'), 71)
  t.equal(ageOn('2010-09-01', '2010-08-31'), -1, 'negative before the birth')
  t.throws(() => ageOn('2010-9-1', '2016-09-01'), RangeError)
  t.throws(() => ageOn('2010-09-01', '2016-02-30'), RangeError)
  t.throws(() => ageOn('19800101', '2016-09-01'), RangeError)

  // Property: ageOn agrees with counting the birthdays (moved to Mar 1 in common years) that have passed.
  const day = fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2100-12-31T00:00:00Z'), noInvalidDate: true }).map(d => d.toISOString().slice(0, 10))
  fc.assert(fc.property(day, day, (birth, on) => {
    fc.pre(birth <= on)
    let age = 0
    for (let y = Number(birth.slice(0, 4)) + 1; y <= Number(on.slice(0, 4)); y++) {
      const anniversary = new Date(Date.UTC(y, Number(birth.slice(5, 7)) - 1, Number(birth.slice(8, 10)))).toISOString().slice(0, 10)
      if (anniversary <= on) age++
    }
    return ageOn(birth, on) === age
  }), { numRuns: 1000 })
})

t.test('the fuzz tests\' bad IDs are invalid whatever valid ID they are made from, one ending in X included', async (t) => {
  const allBad = (valid: string): boolean => badNationalIds(valid).every(bad => !isValidNationalId(bad, TODAY))
  t.ok(allBad('11010519491231002X'))
  fc.assert(fc.property(validId, ({ id }) => allBad(id)), { numRuns: 500 })
})
