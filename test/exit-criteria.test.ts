import fc from 'fast-check'
import t from 'tap'
import { EXIT_CRITERIA, evaluateExitCriteria, type CriteriaInput, type CriteriaMember } from '../src/shared/exit-criteria.js'

const passing = (over: Partial<CriteriaInput> = {}): CriteriaInput => ({
  year: 2019,
  household: { foodSecure: true, clothingSecure: true, housingSafe: true, drinkingWaterSafe: true },
  members: [member({ name: '户主', birthDate: '1970-01-01' })],
  perCapitaNet: 5000,
  povertyLine: 3747,
  ...over
})

let n = 0
function member (over: Partial<CriteriaMember> = {}): CriteriaMember {
  n += 1
  return { id: `m${n}`, name: `成员${n}`, birthDate: '1980-01-01', schooling: 'NOT_IN_SCHOOL', medicalInsurance: true, deceasedAt: null, ...over }
}

const result = (input: CriteriaInput, criterion: string) => evaluateExitCriteria(input).find(r => r.criterion === criterion)!

t.test('every criterion is evaluated, in the contract order, and a household meeting all passes', async (t) => {
  const results = evaluateExitCriteria(passing())
  t.same(results.map(r => r.criterion), [...EXIT_CRITERIA])
  t.ok(results.every(r => r.passed))
})

t.test('INCOME: at the line passes, a fen below fails; both figures are in the detail; no record or no line fails', async (t) => {
  const at = result(passing({ perCapitaNet: 3747 }), 'INCOME')
  t.equal(at.passed, true)
  t.match(at.detail, /3747\.00.*3747/)
  t.same(at.evidence, { year: 2019, perCapitaNet: 3747, povertyLine: 3747 })
  const below = result(passing({ perCapitaNet: 3746.99 }), 'INCOME')
  t.equal(below.passed, false)
  t.match(below.detail, /3746\.99 元 < 贫困线 3747 元/)
  t.equal(result(passing({ perCapitaNet: null }), 'INCOME').passed, false)
  t.match(result(passing({ perCapitaNet: null }), 'INCOME').detail, /无2019年收入记录/)
  t.equal(result(passing({ povertyLine: null }), 'INCOME').passed, false)

  fc.assert(fc.property(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 1, max: 10_000 }), (fen, line) => {
    const perCapitaNet = fen / 100
    return result(passing({ perCapitaNet, povertyLine: line }), 'INCOME').passed === (perCapitaNet >= line)
  }))
})

t.test('FOOD, CLOTHING, HOUSING, WATER follow the household flags, each on its own', async (t) => {
  const flags = { FOOD: 'foodSecure', CLOTHING: 'clothingSecure', HOUSING: 'housingSafe', WATER: 'drinkingWaterSafe' } as const
  fc.assert(fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (food, clothing, housing, water) => {
    const household = { foodSecure: food, clothingSecure: clothing, housingSafe: housing, drinkingWaterSafe: water }
    const results = evaluateExitCriteria(passing({ household }))
    return Object.entries(flags).every(([c, key]) => results.find(r => r.criterion === c)!.passed === household[key])
  }))
})

t.test('EDUCATION: aged 6–15 on 1 September of the year; a child turning 16 on 31 August is past it, one turning 16 on 2 September is not', async (t) => {
  const out = (birthDate: string, schooling = 'NOT_IN_SCHOOL') => result(passing({ members: [member(), member({ birthDate, schooling, name: '孩子' })] }), 'EDUCATION')
  t.equal(out('2003-08-31').passed, true, '16 on 31 August 2019: no longer of compulsory-school age')
  t.equal(out('2003-09-01').passed, true, '16 on 1 September 2019')
  t.equal(out('2003-09-02').passed, false, 'still 15 on 1 September 2019')
  t.match(out('2003-09-02').detail, /孩子/)
  t.equal(out('2013-09-01').passed, false, 'turns 6 on 1 September 2019')
  t.equal(out('2013-09-02').passed, true, 'still 5 on 1 September 2019')
  t.equal(out('2010-05-05', 'DROPPED_OUT').passed, false)
  t.equal(out('2010-05-05', 'PRIMARY').passed, true)
  t.equal(result(passing({ members: [member({ birthDate: '2010-05-05', deceasedAt: '2018-01-01' })] }), 'EDUCATION').passed, true, 'a deceased child is not counted')
  const child = member({ id: 'child', birthDate: '2010-05-05', schooling: 'DROPPED_OUT', name: '孩子' })
  t.same(result(passing({ members: [member(), child] }), 'EDUCATION').evidence.outOfSchool, [{ memberId: 'child', name: '孩子' }])

  const schooling = fc.constantFrom('NOT_IN_SCHOOL', 'DROPPED_OUT', 'PRIMARY', 'JUNIOR_HIGH', 'PRESCHOOL', 'SENIOR_HIGH')
  const birth = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2019-08-31T00:00:00Z'), noInvalidDate: true }).map(d => d.toISOString().slice(0, 10))
  fc.assert(fc.property(fc.array(fc.record({ birthDate: birth, schooling, dead: fc.boolean() }), { maxLength: 6 }), fc.integer({ min: 2016, max: 2020 }), (kids, year) => {
    const members = kids.map(k => member({ birthDate: k.birthDate, schooling: k.schooling, deceasedAt: k.dead ? '2015-01-01' : null }))
    // Independent oracle: the age on 1 September by plain date arithmetic.
    const expected = kids.every(k => {
      const [by, bm, bd] = k.birthDate.split('-').map(Number) as [number, number, number]
      const age = year - by - (bm > 9 || (bm === 9 && bd > 1) ? 1 : 0)
      return k.dead || age < 6 || age > 15 || (k.schooling !== 'NOT_IN_SCHOOL' && k.schooling !== 'DROPPED_OUT')
    })
    return result(passing({ year, members }), 'EDUCATION').passed === expected
  }))
})

t.test('MEDICAL: every living member insured; a deceased uninsured member is not counted', async (t) => {
  t.equal(result(passing({ members: [member(), member({ medicalInsurance: false, name: '未参保' })] }), 'MEDICAL').passed, false)
  t.match(result(passing({ members: [member(), member({ medicalInsurance: false, name: '未参保' })] }), 'MEDICAL').detail, /未参保/)
  t.equal(result(passing({ members: [member(), member({ medicalInsurance: false, deceasedAt: '2019-02-01' })] }), 'MEDICAL').passed, true)
  fc.assert(fc.property(fc.array(fc.record({ insured: fc.boolean(), dead: fc.boolean() }), { minLength: 1, maxLength: 8 }), (ms) => {
    const members = ms.map(m => member({ medicalInsurance: m.insured, deceasedAt: m.dead ? '2019-01-01' : null }))
    return result(passing({ members }), 'MEDICAL').passed === ms.every(m => m.insured || m.dead)
  }))
})

t.test('the household passes exactly when every criterion passes, and each result explains itself', async (t) => {
  fc.assert(fc.property(fc.boolean(), fc.boolean(), fc.option(fc.integer({ min: 0, max: 8000 }), { nil: null }), (food, water, income) => {
    const results = evaluateExitCriteria(passing({ household: { foodSecure: food, clothingSecure: true, housingSafe: true, drinkingWaterSafe: water }, perCapitaNet: income }))
    return results.every(r => r.detail.length > 0) &&
      results.every(r => r.passed) === (food && water && income !== null && income >= 3747)
  }))
})
