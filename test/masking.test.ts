import fc from 'fast-check'
import t from 'tap'
import { maskBankAccount, maskBirthDate, masking, maskNationalId, maskPhone } from '../src/shared/masking.js'

/** Which positions (in code points) of a value of length n the rule may reveal — contract §3, written out independently. */
const RULES = {
  nationalId: { fn: maskNationalId, revealed: (i: number, n: number) => n >= 14 && (i < 6 || i >= n - 4) },
  phone: { fn: maskPhone, revealed: (i: number, n: number) => n >= 8 && (i < 3 || i >= n - 4) },
  bankAccount: { fn: maskBankAccount, revealed: (i: number, n: number) => n >= 5 && i >= n - 4 }
}

// Digit strings around the interesting lengths, and any string at all (astral code points and lone surrogates included).
const values = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789X'), maxLength: 25 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 })
)

for (const [name, { fn, revealed }] of Object.entries(RULES)) {
  t.test(`${name}: same length, '*' wherever the rule does not reveal, the input's character where it does`, async (t) => {
    fc.assert(fc.property(values, value => {
      const input = Array.from(value)
      const output = Array.from(fn(value))
      if (output.length !== input.length) return false
      return output.every((c, i) => c === (revealed(i, input.length) ? input[i] : '*'))
    }), { numRuns: 5000 })
    // Plain UTF-16 length too, for the strings real data holds.
    fc.assert(fc.property(fc.string({ maxLength: 30 }), value => fn(value).length === value.length))
  })
}

t.test('an 18-character ID shows exactly 8 stars between the first 6 and last 4', async (t) => {
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'0123456789X'), minLength: 18, maxLength: 18 }), id =>
    maskNationalId(id) === id.slice(0, 6) + '********' + id.slice(14)))
})

t.test('contract examples', async (t) => {
  t.equal(maskNationalId('41122419800101123X'), '411224********123X')
  t.equal(maskPhone('13812345678'), '138****5678')
  t.equal(maskBankAccount('6222020200112233445'), '***************3445')
  t.equal(masking.nationalId, maskNationalId)
  t.equal(masking.phone, maskPhone)
  t.equal(masking.bankAccount, maskBankAccount)
  t.equal(maskBirthDate('1968-04-09'), '1968')
  t.equal(masking.birthDate, maskBirthDate)
})

t.test('a birth date shows its year only; anything else is masked whole', async (t) => {
  t.equal(maskBirthDate('2008-09-01'), '2008')
  t.equal(maskBirthDate(''), '')
  t.equal(maskBirthDate('19680409'), '********')
  t.equal(maskBirthDate('1968-4-9'), '********')
  fc.assert(fc.property(fc.string({ maxLength: 30 }), v => { const m = maskBirthDate(v); return m.length <= v.length && (m === v.slice(0, 4) || /^\**$/.test(m)) && !m.includes('-') }))
})

t.test('short and odd values are masked more, never less', async (t) => {
  t.equal(maskNationalId(''), '')
  t.equal(maskNationalId('411224800101123'), '411224*****1123') // old 15-digit form
  t.equal(maskNationalId('41122419800101'), '411224****0101')
  t.equal(maskNationalId('4112241980010'), '*************')
  t.equal(maskPhone(''), '')
  t.equal(maskPhone('1381234'), '*******')
  t.equal(maskPhone('12345678'), '123*5678')
  t.equal(maskPhone('0398-2822345'), '039*****2345')
  t.equal(maskBankAccount(''), '')
  t.equal(maskBankAccount('1234'), '****')
  t.equal(maskBankAccount('12345'), '*2345')
  t.equal(maskNationalId('😀😀😀😀😀😀😀😀😀😀😀😀😀😀'), '😀😀😀😀😀😀****😀😀😀😀')
})
