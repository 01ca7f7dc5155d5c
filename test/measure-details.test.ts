import fc from 'fast-check'
import t from 'tap'
import { LABELS, MEASURE_CATEGORIES, type MeasureCategory } from '../src/shared/labels.js'
import { isIsoDate } from '../src/shared/dates.js'
import { MEASURE_KINDS, validateMeasure, type MeasureFields } from '../src/shared/measure-details.js'

const START = '2019-03-01'
const check = (input: Partial<MeasureFields> & { category: string, kind: string }): ReturnType<typeof validateMeasure> =>
  validateMeasure({ startDate: START, ...input }, 'input')
/** The paths of the errors, sorted, for exact comparison. */
const paths = (input: Partial<MeasureFields> & { category: string, kind: string }): string[] =>
  check(input).fields.map(f => f.path).sort()

/** Minimal valid details for the kinds that require some. */
const REQUIRED: Record<string, Record<string, unknown>> = {
  transfer_employment: { employer: '某电子厂', place: '广东省东莞市' },
  public_welfare_post: { post: '村级保洁员', monthlyPay: 500 },
  workshop: { workshop: '卢氏县某扶贫车间' },
  skills_training: { course: '家政服务', hours: 40 },
  relocation: { resettlementSite: '某安置点', moveInDate: '2019-06-30' },
  microcredit: { bank: '农村商业银行', principal: 50000, termMonths: 36, interestSubsidy: 2175 },
  forest_ranger: { annualPay: 6000 },
  returned_farmland: { areaMu: 2.5 },
  public_welfare_forest: { areaMu: 10 }
}

t.test('every kind of every category accepts its minimal valid details', async (t) => {
  t.same(Object.keys(MEASURE_KINDS), MEASURE_CATEGORIES)
  for (const category of MEASURE_CATEGORIES) {
    for (const kind of MEASURE_KINDS[category]) {
      t.ok(Object.hasOwn(LABELS.MeasureKind, kind), `${kind} has a label`)
      const r = check({ category, kind, details: REQUIRED[kind] })
      t.same(r.fields, [], `${category}/${kind}`)
      if (REQUIRED[kind] === undefined) {
        t.equal(r.details, null, `${kind}: absent details stay null`)
        t.same(check({ category, kind, details: {} }).details, {}, `${kind}: empty details accepted`)
      }
    }
  }
})

t.test('kinds per category are the listed ones', async (t) => {
  const expected: Record<MeasureCategory, string[]> = {
    INDUSTRY: ['specialty_farming', 'livestock', 'solar', 'e_commerce', 'rural_tourism', 'processing', 'asset_income_share'],
    EMPLOYMENT: ['transfer_employment', 'public_welfare_post', 'workshop', 'skills_training'],
    RELOCATION: ['relocation'],
    FINANCE: ['microcredit'],
    ECOLOGICAL: ['forest_ranger', 'returned_farmland', 'public_welfare_forest'],
    EDUCATION: ['tuition_waiver', 'living_allowance', 'rain_dew_plan', 'student_loan', 'other'],
    HEALTH: ['basic_insurance_subsidy', 'serious_illness_insurance', 'family_doctor_contract', 'medical_assistance', 'chronic_disease_card', 'other'],
    HOUSING: ['dangerous_house_renovation', 'other'],
    SOCIAL_SECURITY: ['dibao', 'extreme_support', 'pension_subsidy', 'temporary_assistance', 'other']
  }
  for (const c of MEASURE_CATEGORIES) t.same([...MEASURE_KINDS[c]].sort(), [...expected[c]].sort(), c)
})

t.test('INDUSTRY: optional project and cooperative, trimmed', async (t) => {
  const r = check({ category: 'INDUSTRY', kind: 'livestock', amount: 3000, details: { project: '  肉牛养殖 ', cooperative: '某养殖专业合作社' } })
  t.same(r, { fields: [], details: { project: '肉牛养殖', cooperative: '某养殖专业合作社' }, amount: 3000 })
  t.same(check({ category: 'INDUSTRY', kind: 'solar', details: { project: null } }).details, {}, 'null counts as absent')
  t.same(paths({ category: 'INDUSTRY', kind: 'solar', details: { project: '   ', cooperative: 7 } }), ['input.details.cooperative', 'input.details.project'])
  t.same(paths({ category: 'INDUSTRY', kind: 'solar', details: { project: 'x'.repeat(201) } }), ['input.details.project'])
})

t.test('EMPLOYMENT: required fields per kind', async (t) => {
  t.same(paths({ category: 'EMPLOYMENT', kind: 'transfer_employment' }), ['input.details.employer', 'input.details.place'])
  t.same(paths({ category: 'EMPLOYMENT', kind: 'transfer_employment', details: { employer: '厂' } }), ['input.details.place'])
  t.same(paths({ category: 'EMPLOYMENT', kind: 'public_welfare_post', details: { post: '护路员' } }), ['input.details.monthlyPay'])
  t.same(paths({ category: 'EMPLOYMENT', kind: 'public_welfare_post', details: { post: '护路员', monthlyPay: -1 } }), ['input.details.monthlyPay'])
  t.same(check({ category: 'EMPLOYMENT', kind: 'public_welfare_post', details: { post: '护路员', monthlyPay: 0 } }).details, { post: '护路员', monthlyPay: 0 })
  t.same(paths({ category: 'EMPLOYMENT', kind: 'public_welfare_post', details: { post: '护路员', monthlyPay: 500.555 } }), ['input.details.monthlyPay'])
  t.same(paths({ category: 'EMPLOYMENT', kind: 'workshop', details: {} }), ['input.details.workshop'])
  t.same(paths({ category: 'EMPLOYMENT', kind: 'skills_training', details: { course: '电工' } }), ['input.details.hours'])
  t.same(paths({ category: 'EMPLOYMENT', kind: 'skills_training', details: { course: '电工', hours: 0 } }), ['input.details.hours'])
  t.same(paths({ category: 'EMPLOYMENT', kind: 'skills_training', details: { course: '电工', hours: 40, certificate: 'yes' } }), ['input.details.certificate'])
  t.same(check({ category: 'EMPLOYMENT', kind: 'skills_training', details: { course: '电工', hours: 40, certificate: true } }).details,
    { course: '电工', hours: 40, certificate: true })
})

t.test('RELOCATION: resettlement site and move-in date', async (t) => {
  const ok = check({ category: 'RELOCATION', kind: 'relocation', details: { resettlementSite: '城关镇安置点', moveInDate: '2019-06-30', oldHouseDemolished: true, landReclaimed: false } })
  t.same(ok, { fields: [], details: { resettlementSite: '城关镇安置点', moveInDate: '2019-06-30', oldHouseDemolished: true, landReclaimed: false }, amount: null })
  t.same(check({ category: 'RELOCATION', kind: 'relocation', details: { resettlementSite: 'x', moveInDate: START } }).fields, [], 'move-in on the start date')
  t.same(paths({ category: 'RELOCATION', kind: 'relocation' }), ['input.details.moveInDate', 'input.details.resettlementSite'])
  t.same(paths({ category: 'RELOCATION', kind: 'relocation', details: { resettlementSite: '', moveInDate: '2019-06-30' } }), ['input.details.resettlementSite'])
  t.same(paths({ category: 'RELOCATION', kind: 'relocation', details: { resettlementSite: 'x', moveInDate: '2019-02-28' } }), ['input.details.moveInDate'], 'before startDate')
  t.same(paths({ category: 'RELOCATION', kind: 'relocation', details: { resettlementSite: 'x', moveInDate: '2019-06-31' } }), ['input.details.moveInDate'], 'not a real date')
  t.same(paths({ category: 'RELOCATION', kind: 'relocation', details: { resettlementSite: 'x', moveInDate: '2019/06/30' } }), ['input.details.moveInDate'])
  t.same(paths({ category: 'RELOCATION', kind: 'relocation', details: { resettlementSite: 'x', moveInDate: '2019-06-30', oldHouseDemolished: 1, landReclaimed: 'no' } }),
    ['input.details.landReclaimed', 'input.details.oldHouseDemolished'])
})

t.test('FINANCE: microcredit terms, the 50,000 cap, extension and renewal', async (t) => {
  const base = { bank: '农村商业银行', principal: 50000, termMonths: 36, interestSubsidy: 2175 }
  const r = check({ category: 'FINANCE', kind: 'microcredit', details: { ...base, bank: ' 农村商业银行 ' } })
  t.same(r, { fields: [], details: base, amount: 50000 }, 'amount defaults to principal')
  t.equal(check({ category: 'FINANCE', kind: 'microcredit', amount: 50000, details: base }).amount, 50000, 'equal amount accepted')
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', amount: 40000, details: base }), ['input.amount'], 'amount must equal principal')

  t.same(paths({ category: 'FINANCE', kind: 'microcredit' }),
    ['input.details.bank', 'input.details.interestSubsidy', 'input.details.principal', 'input.details.termMonths'])
  for (const principal of [50000.01, 60000, 0, -1, '50000', 1000.001]) {
    t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, principal } }), ['input.details.principal'], `principal ${String(principal)}`)
  }
  const cap = check({ category: 'FINANCE', kind: 'microcredit', details: { ...base, principal: 50001 } })
  t.match(cap.fields[0]?.message, /50000/)
  for (const termMonths of [0, 37, 12.5, '12']) {
    t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, termMonths } }), ['input.details.termMonths'], `term ${String(termMonths)}`)
  }
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, interestSubsidy: -0.01 } }), ['input.details.interestSubsidy'])
  t.same(check({ category: 'FINANCE', kind: 'microcredit', details: { ...base, interestSubsidy: 0 } }).fields, [])

  const extension = { months: 12, approvedOn: '2022-02-20' }
  const renewal = { approvedOn: '2022-03-01' }
  const full = check({ category: 'FINANCE', kind: 'microcredit', details: { ...base, extension, renewal, overdue: false, repaidOn: '2023-01-15' } })
  t.same(full.details, { ...base, extension, renewal, overdue: false, repaidOn: '2023-01-15' })
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, extension: { months: 13, approvedOn: '2022-02-20' } } }), ['input.details.extension.months'])
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, extension: { months: 0, approvedOn: '2022-02-20' } } }), ['input.details.extension.months'])
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, extension: { months: 6 } } }), ['input.details.extension.approvedOn'])
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, extension: { months: 6, approvedOn: '2018-01-01' } } }), ['input.details.extension.approvedOn'], 'before the loan')
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, extension: { months: 6, approvedOn: '2022-02-20', by: 'x' } } }), ['input.details.extension.by'])
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, extension: 6 } }), ['input.details.extension'])
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, renewal: {} } }), ['input.details.renewal.approvedOn'])
  t.same(paths({ category: 'FINANCE', kind: 'microcredit', details: { ...base, overdue: 'no', repaidOn: '2023-02-29' } }), ['input.details.overdue', 'input.details.repaidOn'])
})

t.test('ECOLOGICAL: forest ranger pay and the derived amounts', async (t) => {
  t.same(check({ category: 'ECOLOGICAL', kind: 'forest_ranger', details: { annualPay: 6000 } }), { fields: [], details: { annualPay: 6000 }, amount: 6000 })
  t.equal(check({ category: 'ECOLOGICAL', kind: 'forest_ranger', amount: 18000, details: { annualPay: 6000 } }).amount, 18000, 'a given amount (several years) wins')
  t.same(paths({ category: 'ECOLOGICAL', kind: 'forest_ranger', details: { annualPay: 0 } }), ['input.details.annualPay'])
  t.same(paths({ category: 'ECOLOGICAL', kind: 'forest_ranger' }), ['input.details.annualPay'])

  t.same(check({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: { areaMu: 2.5 } }), { fields: [], details: { areaMu: 2.5 }, amount: 4000 })
  t.equal(check({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: { areaMu: 1.15 } }).amount, 1840)
  t.equal(check({ category: 'ECOLOGICAL', kind: 'returned_farmland', amount: 4000, details: { areaMu: 2.5 } }).amount, 4000)
  t.same(paths({ category: 'ECOLOGICAL', kind: 'returned_farmland', amount: 3999, details: { areaMu: 2.5 } }), ['input.amount'])
  t.same(paths({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: { areaMu: 0 } }), ['input.details.areaMu'])
  t.same(paths({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: { areaMu: -3 } }), ['input.details.areaMu'])
  t.same(paths({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: { areaMu: 9000 } }), ['input.details.areaMu'], 'amount over the cap')
  t.same(paths({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: {} }), ['input.details.areaMu'])

  t.same(check({ category: 'ECOLOGICAL', kind: 'public_welfare_forest', details: { areaMu: 10.25 } }), { fields: [], details: { areaMu: 10.25 }, amount: 153.75 })
  t.equal(check({ category: 'ECOLOGICAL', kind: 'public_welfare_forest', details: { areaMu: 0.01 } }).amount, 0.15)
  t.same(paths({ category: 'ECOLOGICAL', kind: 'public_welfare_forest', amount: 150, details: { areaMu: 10.25 } }), ['input.amount'])
  t.same(paths({ category: 'ECOLOGICAL', kind: 'public_welfare_forest', details: { areaMu: '10' } }), ['input.details.areaMu'])
})

t.test('the five guarantees: no detail keys except the house grade', async (t) => {
  t.same(check({ category: 'HOUSING', kind: 'dangerous_house_renovation', details: { grade: 'D' } }).details, { grade: 'D' })
  t.same(paths({ category: 'HOUSING', kind: 'dangerous_house_renovation', details: { grade: 'B' } }), ['input.details.grade'])
  t.same(paths({ category: 'HOUSING', kind: 'other', details: { grade: 'C' } }), ['input.details.grade'])
  t.same(paths({ category: 'EDUCATION', kind: 'rain_dew_plan', details: { school: 'x' } }), ['input.details.school'])
  t.same(paths({ category: 'HEALTH', kind: 'family_doctor_contract', details: { doctor: 'x' } }), ['input.details.doctor'])
  t.same(paths({ category: 'SOCIAL_SECURITY', kind: 'dibao', details: { level: 1 } }), ['input.details.level'])
  t.same(check({ category: 'SOCIAL_SECURITY', kind: 'dibao', amount: 3720.5 }), { fields: [], details: null, amount: 3720.5 })
})

t.test('rules common to every category', async (t) => {
  t.same(paths({ category: 'CHARITY', kind: 'other' }), ['input.category'])
  const unknownKind = check({ category: 'FINANCE', kind: 'insurance' })
  t.same(unknownKind.fields.map(f => f.path), ['input.kind'])
  t.match(unknownKind.fields[0]?.message, /microcredit/, 'the message lists the kinds')
  t.same(paths({ category: 'INDUSTRY', kind: 'microcredit' }), ['input.kind'], 'a kind of another category')
  t.same(paths({ category: 'HEALTH', kind: 'other', status: 'DONE' }), ['input.status'])
  t.same(check({ category: 'HEALTH', kind: 'other', status: 'COMPLETED', endDate: '2019-12-31' }).fields, [])

  for (const startDate of ['2019-13-01', '2019-02-29', '2019-2-1', '', '2019-03-01T00:00:00Z', '0000-00-00']) {
    t.same(paths({ category: 'HEALTH', kind: 'other', startDate }), ['input.startDate'], `startDate ${startDate}`)
  }
  t.same(check({ category: 'HEALTH', kind: 'other', startDate: '2020-02-29' }).fields, [], 'leap day')
  t.same(paths({ category: 'HEALTH', kind: 'other', endDate: '2019-02-28' }), ['input.endDate'], 'end before start')
  t.same(paths({ category: 'HEALTH', kind: 'other', endDate: '2019-04-31' }), ['input.endDate'])
  t.same(check({ category: 'HEALTH', kind: 'other', endDate: START }).fields, [], 'end on the start date')

  for (const amount of [-1, Number.NaN, Number.POSITIVE_INFINITY, 10_000_000.01, 1.005]) {
    t.same(paths({ category: 'HEALTH', kind: 'other', amount }), ['input.amount'], `amount ${amount}`)
  }
  t.equal(check({ category: 'HEALTH', kind: 'other', amount: 10_000_000 }).amount, 10_000_000)
  t.equal(check({ category: 'HEALTH', kind: 'other', amount: 0.1 }).amount, 0.1)

  for (const details of [[], 'x', 3, true]) {
    t.same(paths({ category: 'HEALTH', kind: 'other', details }), ['input.details'], `details ${JSON.stringify(details)}`)
  }
  t.same(paths({ category: 'HEALTH', kind: 'other', details: new Date() }), ['input.details'], 'not a plain object')
  const proto = JSON.parse('{"__proto__": {"x": 1}}') as unknown
  t.same(paths({ category: 'HEALTH', kind: 'other', details: proto }), ['input.details.__proto__'])
  t.same(paths({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: { areaMu: 1, area: 1 } }), ['input.details.area'], 'unknown key beside valid ones')

  const many = check({ category: 'ECOLOGICAL', kind: 'returned_farmland', startDate: 'x', amount: -1, details: { areaMu: 0 } })
  t.same(many.fields.map(f => f.path).sort(), ['input.amount', 'input.details.areaMu', 'input.startDate'], 'all problems at once')
  t.equal(many.details, null)
  t.equal(many.amount, null)
})

t.test('messages never echo the values given', async (t) => {
  const id = '411224199001011234'
  const r = check({
    category: 'FINANCE',
    kind: 'microcredit',
    startDate: id,
    endDate: id,
    details: { bank: { id }, principal: id, termMonths: id, interestSubsidy: id, extension: { months: id, approvedOn: id }, note: id }
  })
  t.ok(r.fields.length >= 8)
  for (const f of r.fields) t.notMatch(f.message, id)
})

t.test('isIsoDate', async (t) => {
  for (const d of ['2000-02-29', '1999-12-31', '0099-01-01', '2019-04-30']) t.ok(isIsoDate(d), d)
  for (const d of ['1900-02-29', '2019-04-31', '2019-00-10', '2019-01-00', '20190101', 20190101, null]) t.notOk(isIsoDate(d), String(d))
})

t.test('property: derived ecological amounts are areaMu × 1600 and × 15, to the fen', async (t) => {
  // Areas as whole hundredths of a mu, so the oracle is integer arithmetic.
  fc.assert(fc.property(fc.integer({ min: 1, max: 625_000 }), (hundredths) => {
    const r = check({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: { areaMu: hundredths / 100 } })
    return r.fields.length === 0 && r.amount === hundredths * 16
  }), { numRuns: 2000 })
  fc.assert(fc.property(fc.integer({ min: 1, max: 10_000_000 }), (hundredths) => {
    const r = check({ category: 'ECOLOGICAL', kind: 'public_welfare_forest', details: { areaMu: hundredths / 100 } })
    return r.fields.length === 0 && r.amount === (hundredths * 15) / 100
  }), { numRuns: 2000 })
  // A given amount is accepted exactly when it is the derived one.
  fc.assert(fc.property(fc.integer({ min: 1, max: 625_000 }), fc.integer({ min: 0, max: 10_000_000 }), (hundredths, yuan) => {
    const r = check({ category: 'ECOLOGICAL', kind: 'returned_farmland', amount: yuan, details: { areaMu: hundredths / 100 } })
    return (r.fields.length === 0) === (yuan === hundredths * 16)
  }), { numRuns: 2000 })
  t.pass('6,000 random areas checked')
})

t.test('property: any input gives fields or a result, never a throw', async (t) => {
  const category = fc.oneof(fc.constantFrom(...MEASURE_CATEGORIES), fc.string())
  const kind = fc.oneof(fc.constantFrom(...Object.values(MEASURE_KINDS).flat()), fc.string())
  const detailKeys = fc.constantFrom('principal', 'bank', 'termMonths', 'interestSubsidy', 'extension', 'renewal', 'areaMu', 'annualPay',
    'resettlementSite', 'moveInDate', 'course', 'hours', 'certificate', 'grade', 'project', 'employer', 'place', 'post', 'monthlyPay', 'workshop')
  const details = fc.oneof(
    fc.anything(),
    fc.jsonValue(),
    fc.dictionary(detailKeys, fc.oneof(fc.anything(), fc.double(), fc.constant('2019-06-30'), fc.record({ months: fc.anything(), approvedOn: fc.anything() })))
  )
  const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined> => fc.oneof(fc.constant(null), fc.constant(undefined), a)
  fc.assert(fc.property(category, kind, maybe(fc.string()), fc.oneof(fc.constant(START), fc.string()), maybe(fc.oneof(fc.constant('2020-01-01'), fc.string())),
    maybe(fc.oneof(fc.double(), fc.integer())), fc.option(details, { nil: undefined }),
    (category, kind, status, startDate, endDate, amount, details) => {
      const r = validateMeasure({ category, kind, status, startDate, endDate, amount, details }, 'input')
      if (r.fields.length > 0) return r.details === null && r.amount === null && r.fields.every(f => f.path.startsWith('input.') && f.message.length > 0)
      return (r.details === null || typeof r.details === 'object') && (r.amount === null || (Number.isFinite(r.amount) && r.amount >= 0 && r.amount <= 10_000_000))
    }
  ), { numRuns: 3000 })
  t.pass('3,000 random inputs checked')
  // Hostile runtime types where the signature says string.
  const junk = [undefined, null, 1, {}, [], Symbol('s'), () => 1] as unknown[]
  for (const v of junk) {
    t.doesNotThrow(() => validateMeasure({ category: v, kind: v, status: v, startDate: v, endDate: v, amount: v, details: v } as unknown as MeasureFields, 'input'))
  }
})
