/**
 * Deterministic synthetic demo data: households, members, incomes and measures spread
 * over the villages of a region, with their helpers, assignments and visits and a work
 * team in every poor village, plausible enough for demonstrations and load tests.
 * Seeding, not a user's change: no audit entries are written. Every exit has an approved
 * review whose criteria hold for its year (no exits on paper). Only the row ids and the
 * sealed values (random IVs) differ between runs with the same seed.
 */
import { randomUUID } from 'node:crypto'
import { and, eq, inArray, like, sql } from 'drizzle-orm'
import type { Sealer } from '../shared/sealing.js'
import { nationalIdCheckDigit } from '../shared/national-id.js'
import { validateMeasure } from '../shared/measure-details.js'
import { evaluateExitCriteria } from '../shared/exit-criteria.js'
import type { Db } from './index.js'
import { exitReviews, exitReviewSteps, fundAllocations, fundPayments, helperAssignments, helpers, householdStatusChanges, households, incomes, measures, members, povertyLines, projectBeneficiaries, projects, regions, visits, workTeamMembers, workTeams } from './schema/index.js'

const BATCH = 500

/** mulberry32: a small, fast seeded PRNG giving floats in [0, 1). */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Rng {
  private readonly next: () => number
  constructor (seed: number) { this.next = mulberry32(seed) }
  float (): number { return this.next() }
  chance (p: number): boolean { return this.next() < p }
  /** Integer in [min, max]. */
  int (min: number, max: number): number { return min + Math.floor(this.next() * (max - min + 1)) }
  pick<T> (items: readonly T[]): T { return items[Math.floor(this.next() * items.length)]! }
  weighted<T> (items: ReadonlyArray<readonly [T, number]>): T {
    const total = items.reduce((s, [, w]) => s + w, 0)
    let r = this.next() * total
    for (const [v, w] of items) {
      r -= w
      if (r < 0) return v
    }
    return items[items.length - 1]![0]
  }
  /** Money in yuan with whole-yuan steps of `step`. */
  money (min: number, max: number, step = 10): number { return Math.round(this.int(min, max) / step) * step }
}

const round2 = (n: number): number => {
  const r = Math.round(n * 100) / 100
  return r === 0 ? 0 : r
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '胡', '朱', '高', '林', '何', '郭', '马', '罗', '梁', '宋', '郑', '谢', '韩', '唐', '冯', '于', '董', '萧'] as const
const MALE_GIVEN = ['建国', '建军', '国强', '志强', '永刚', '卫东', '德福', '金山', '明', '伟', '军', '勇', '磊', '强', '涛', '斌', '海波', '春生', '保国', '长江', '振华', '新民', '文杰', '浩然', '子轩', '宇航', '俊杰', '铁柱', '满仓', '来福'] as const
const FEMALE_GIVEN = ['秀英', '桂英', '秀兰', '玉兰', '桂兰', '凤英', '玉梅', '淑珍', '丽', '敏', '静', '燕', '娟', '艳', '霞', '芳', '红梅', '春花', '翠花', '小红', '雪梅', '海燕', '欣怡', '梓涵', '诗琪', '雨涵', '佳怡', '子涵', '秋菊', '兰芳'] as const
const BANKS = ['农村信用合作联社', '中国邮政储蓄银行', '中国农业银行', '农村商业银行'] as const
const VISIT_NOTES = ['入户走访，了解家庭收支情况', '宣讲扶贫政策，核实帮扶措施落实', '查看产业发展情况，协调技术指导', '了解就业意愿，推荐就业岗位', '核实住房和饮水安全', '慰问，了解医疗报销情况'] as const
const SENDING_UNITS = ['县扶贫开发办公室', '县农业农村局', '县人力资源和社会保障局', '县教育体育局', '县卫生健康委员会', '县交通运输局', '县水利局', '县财政局', '三门峡市直机关工委', '县供电公司'] as const
const HELPER_UNITS = ['县扶贫办', '县农业农村局', '县人社局', '县教育局', '县卫健委', '县交通局', '县水利局', '乡镇人民政府', '县财政局', '县林业局'] as const
const CAUSES = [
  ['ILLNESS', 38], ['LACK_OF_FUNDS', 16], ['LACK_OF_SKILLS', 13], ['LACK_OF_LABOR', 11], ['DISABILITY', 8],
  ['EDUCATION', 6], ['LACK_OF_LAND', 3], ['DISASTER', 2], ['LACK_OF_MOTIVATION', 2], ['POOR_TRANSPORT', 1]
] as const

type Sex = 'MALE' | 'FEMALE'

interface PlannedMember {
  id: string
  relation: string
  sex: Sex
  age: number
  surname: string
}

export interface DemoDataOptions {
  households: number
  region: string
  seed: number
  /** The data's reference year (ages, measures; incomes for the year before and this one); 2019 unless given. */
  year?: number
  /** Today, for the recent visits (some within the last 90 days, some older); the current time unless given. */
  today?: Date
}

export interface DemoDataCounts { households: number, members: number, measures: number, incomes: number, workTeams: number, helpers: number, visits: number }

type HouseholdInsert = typeof households.$inferInsert
type MemberInsert = typeof members.$inferInsert
type IncomeInsert = typeof incomes.$inferInsert
type MeasureInsert = typeof measures.$inferInsert

const pad = (n: number, width: number): string => String(n).padStart(width, '0')
const daysIn = (y: number, m: number): number => new Date(Date.UTC(y, m, 0)).getUTCDate()

/** One household as the generator plans it: the rows of every table it touches. */
export interface DemoHousehold {
  household: HouseholdInsert
  members: MemberInsert[]
  incomes: IncomeInsert[]
  measures: MeasureInsert[]
  exitReviews: Array<typeof exitReviews.$inferInsert>
  exitReviewSteps: Array<typeof exitReviewSteps.$inferInsert>
  statusChanges: Array<typeof householdStatusChanges.$inferInsert>
  /** A new helper (帮扶责任人) of the county's pool, when this household needed one. */
  helpers: Array<typeof helpers.$inferInsert>
  helperAssignments: Array<typeof helperAssignments.$inferInsert>
  visits: Array<typeof visits.$inferInsert>
}

/** What the plan needs from the database: the region's villages, each village's last household number, the poverty lines. */
export interface DemoContext {
  villages: string[]
  lastNo: Map<string, number>
  povertyLines: Map<number, number>
}

export async function demoContext (db: Db, region: string): Promise<DemoContext> {
  const villages = (await db.select({ code: regions.code }).from(regions)
    .where(and(eq(regions.level, 'VILLAGE'), like(regions.code, `${region}%`)))
    .orderBy(regions.code)).map(r => r.code)
  if (villages.length === 0) throw new Error('the region has no villages')
  // Continue each village's numbering after its highest existing household number.
  const lastNo = new Map<string, number>()
  const maxRows = await db.select({ region: households.regionCode, last: sql<string | null>`max(${households.householdNo})` })
    .from(households)
    .where(and(like(households.regionCode, `${region}%`), sql`${households.householdNo} ~ '^[0-9]{16}$'`))
    .groupBy(households.regionCode)
  for (const r of maxRows) {
    if (r.last !== null && r.last.startsWith(r.region)) lastNo.set(r.region, Number(r.last.slice(12)))
  }
  const lines = new Map((await db.select().from(povertyLines)).map(l => [l.year, l.amount]))
  return { villages, lastNo, povertyLines: lines }
}

export interface DemoPlanner {
  /** The next household (deterministic per seed, apart from row ids and sealed values). */
  next: () => DemoHousehold
  /** A new national ID for a member whose ID is taken in the database (same county, birth date and sex). */
  reissueId: (m: MemberInsert) => void
}

/**
 * The households of `opts.seed`, one at a time, in memory bounded by the region rather than
 * by how many are planned: national IDs are unique within a run through a counter per
 * county, birth date and sex (the 3-digit sequence of GB 11643), not a set of the IDs issued.
 */
export function demoPlanner (sealer: Sealer, ctx: DemoContext, opts: { seed: number, year?: number, today?: Date }): DemoPlanner {
  const year = opts.year ?? 2019
  if (!Number.isInteger(year) || year < 2015 || year > new Date().getUTCFullYear()) throw new RangeError('year out of range')
  const rng = new Rng(opts.seed)
  const { villages, lastNo, povertyLines: lines } = ctx

  const offset = rng.int(0, 400)
  const issued = new Map<string, number>()
  /** A valid national ID, or null once the 500 sequence numbers of this county, birth date and sex are used. */
  const makeId = (county: string, birth: string, sex: Sex): string | null => {
    const key = county + birth + sex
    const n = issued.get(key) ?? 0
    if (n >= 500) return null
    issued.set(key, n + 1)
    const seq = pad(((offset + n) % 500) * 2 + (sex === 'MALE' ? 1 : 0), 3)
    const first17 = county + birth.replaceAll('-', '') + seq
    return first17 + nationalIdCheckDigit(first17)
  }
  const birthDate = (age: number): string => {
    const y = year - age
    const m = rng.int(1, 12)
    return `${y}-${pad(m, 2)}-${pad(rng.int(1, daysIn(y, m)), 2)}`
  }
  const givenName = (sex: Sex): string => rng.pick(sex === 'MALE' ? MALE_GIVEN : FEMALE_GIVEN)
  const dateIn = (y: number): string => {
    const m = rng.int(1, 12)
    return `${y}-${pad(m, 2)}-${pad(rng.int(1, Math.min(28, daysIn(y, m))), 2)}`
  }

  const today = opts.today ?? new Date()
  const dayBefore = (days: number): string => new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()) - days * 86_400_000).toISOString().slice(0, 10)
  /** Each county's pool of helpers (帮扶责任人), created as households need them: about one helper per four households. */
  const helperPools = new Map<string, string[]>()

  const next = (): DemoHousehold => {
    const hRows: HouseholdInsert[] = []
    const mRows: MemberInsert[] = []
    const iRows: IncomeInsert[] = []
    const meRows: MeasureInsert[] = []
    const rRows: Array<typeof exitReviews.$inferInsert> = []
    const sRows: Array<typeof exitReviewSteps.$inferInsert> = []
    const cRows: Array<typeof householdStatusChanges.$inferInsert> = []
    const village = rng.pick(villages)
    const county = village.slice(0, 6)
    const seqNo = (lastNo.get(village) ?? 0) + 1
    if (seqNo > 9999) throw new Error('a village ran out of 4-digit household numbers')
    lastNo.set(village, seqNo)
    const householdId = randomUUID()

    const attribute = rng.weighted([['GENERAL', 78], ['DIBAO', 17], ['EXTREME_SUPPORT', 5]] as const)
    const mainCause = attribute === 'EXTREME_SUPPORT' ? rng.pick(['LACK_OF_LABOR', 'ILLNESS', 'DISABILITY'] as const) : rng.weighted(CAUSES)
    const otherCauses = rng.chance(0.45) ? [rng.weighted(CAUSES.filter(([c]) => c !== mainCause))] : []

    // Family composition.
    const size = attribute === 'EXTREME_SUPPORT' ? rng.weighted([[1, 80], [2, 20]] as const) : rng.weighted([[1, 8], [2, 20], [3, 24], [4, 26], [5, 13], [6, 9]] as const)
    const headAge = attribute === 'EXTREME_SUPPORT' ? rng.int(60, 88) : rng.weighted([[rng.int(26, 39), 20], [rng.int(40, 54), 40], [rng.int(55, 69), 28], [rng.int(70, 85), 12]] as const)
    const headSex: Sex = rng.chance(0.88) ? 'MALE' : 'FEMALE'
    const surname = rng.pick(SURNAMES)
    const plan: PlannedMember[] = [{ id: randomUUID(), relation: 'HEAD', sex: headSex, age: headAge, surname }]
    const add = (relation: string, sex: Sex, age: number, ownSurname: string): PlannedMember => {
      const m = { id: randomUUID(), relation, sex, age: Math.max(0, Math.min(98, age)), surname: ownSurname }
      plan.push(m)
      return m
    }
    if (size >= 2 && rng.chance(0.85)) add('SPOUSE', headSex === 'MALE' ? 'FEMALE' : 'MALE', headAge + rng.int(-5, 4), rng.pick(SURNAMES))
    let firstAdultChild: PlannedMember | null = null
    while (plan.length < size) {
      const sex: Sex = rng.chance(0.52) ? 'MALE' : 'FEMALE'
      if (headAge < 50) {
        if (headAge < 40 && plan.filter(p => p.relation === 'PARENT').length < 2 && rng.chance(0.3)) {
          add('PARENT', sex, headAge + rng.int(22, 32), sex === 'MALE' ? surname : rng.pick(SURNAMES))
        } else {
          add('CHILD', sex, headAge - rng.int(22, 34) < 0 ? rng.int(0, Math.max(0, headAge - 20)) : headAge - rng.int(22, 34), surname)
        }
      } else if (firstAdultChild === null) {
        firstAdultChild = add('CHILD', 'MALE', headAge - rng.int(23, 32), surname)
      } else if (!plan.some(p => p.relation === 'CHILD_IN_LAW') && firstAdultChild.age >= 20 && rng.chance(0.7)) {
        add('CHILD_IN_LAW', 'FEMALE', firstAdultChild.age + rng.int(-3, 2), rng.pick(SURNAMES))
      } else if (firstAdultChild.age >= 22) {
        add('GRANDCHILD', sex, rng.int(0, Math.min(15, firstAdultChild.age - 20)), surname)
      } else {
        add('CHILD', sex, headAge - rng.int(23, 34), surname)
      }
    }

    // Health: the cause shows in someone's record.
    const sickIndex = mainCause === 'ILLNESS' || mainCause === 'DISABILITY' ? rng.int(0, plan.length - 1) : -1
    let wage = 0
    let pensioners = 0
    let students = 0
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i]!
      let birth = birthDate(p.age)
      let nationalId = makeId(county, birth, p.sex)
      while (nationalId === null) { birth = birthDate(p.age); nationalId = makeId(county, birth, p.sex) }
      const healthConditions: string[] = []
      let disabilityGrade: number | null = null
      if (i === sickIndex) {
        if (mainCause === 'DISABILITY') { healthConditions.push('DISABLED'); disabilityGrade = rng.int(1, 4) } else healthConditions.push(rng.chance(0.65) ? 'CHRONIC_ILLNESS' : 'SERIOUS_ILLNESS')
      } else if (p.age >= 50 && rng.chance(0.15)) healthConditions.push('CHRONIC_ILLNESS')
      const ill = healthConditions.length > 0
      const laborCapacity = p.age < 16
        ? 'NONE'
        : p.age >= 70
          ? (ill ? 'LOST' : 'NONE')
          : (ill && (healthConditions[0] === 'SERIOUS_ILLNESS' || (disabilityGrade !== null && disabilityGrade <= 2)))
              ? 'LOST'
              : p.age >= 60 || ill ? 'WEAK' : rng.weighted([['ORDINARY', 75], ['SKILLED', 15], ['WEAK', 10]] as const)
      let schooling = 'NOT_IN_SCHOOL'
      if (p.age >= 3 && p.age <= 5) schooling = rng.chance(0.8) ? 'PRESCHOOL' : 'NOT_IN_SCHOOL'
      else if (p.age >= 6 && p.age <= 15) schooling = rng.chance(0.03) ? 'DROPPED_OUT' : p.age <= 11 ? 'PRIMARY' : p.age <= 14 ? 'JUNIOR_HIGH' : rng.pick(['JUNIOR_HIGH', 'SENIOR_HIGH'])
      else if (p.age >= 16 && p.age <= 18) schooling = rng.weighted([['SENIOR_HIGH', 45], ['SECONDARY_VOCATIONAL', 30], ['NOT_IN_SCHOOL', 25]] as const)
      else if (p.age >= 19 && p.age <= 22 && rng.chance(0.3)) schooling = 'HIGHER_EDUCATION'
      if (schooling !== 'NOT_IN_SCHOOL' && schooling !== 'DROPPED_OUT') students++
      const canWork = (laborCapacity === 'ORDINARY' || laborCapacity === 'SKILLED' || laborCapacity === 'WEAK') && schooling === 'NOT_IN_SCHOOL'
      const employment = canWork
        ? rng.weighted([['MIGRANT', laborCapacity === 'WEAK' ? 5 : 40], ['LOCAL', 25], ['PUBLIC_WELFARE_POST', laborCapacity === 'WEAK' ? 20 : 6], ['SELF_EMPLOYED', 4], ['UNEMPLOYED', 25]] as const)
        : 'UNEMPLOYED'
      const employmentMonths = employment === 'UNEMPLOYED' ? null : employment === 'PUBLIC_WELFARE_POST' ? 12 : rng.int(3, 11)
      const monthlyIncome = employment === 'UNEMPLOYED'
        ? null
        : employment === 'PUBLIC_WELFARE_POST' ? rng.pick([400, 500, 600]) : employment === 'MIGRANT' ? rng.money(2200, 4500, 100) : rng.money(1200, 2800, 100)
      if (monthlyIncome !== null && employmentMonths !== null) wage += monthlyIncome * employmentMonths
      if (p.age >= 60) pensioners++
      const medicalInsurance = rng.chance(0.97)
      mRows.push({
        id: p.id,
        householdId,
        regionCode: village,
        nationalIdSealed: sealer.seal(nationalId),
        nationalIdHash: sealer.lookupHash(nationalId),
        name: p.surname + givenName(p.sex),
        sex: p.sex,
        birthDate: birth,
        relation: p.relation,
        ethnicity: rng.chance(0.97) ? '汉族' : '回族',
        education: p.age < 7 ? null : p.age >= 60 ? rng.pick(['文盲或半文盲', '小学']) : p.age >= 19 ? rng.weighted([['小学', 35], ['初中', 50], ['高中', 12], ['大专', 3]] as const) : null,
        healthConditions,
        disabilityGrade,
        laborCapacity,
        schooling,
        wantsWork: canWork && (employment !== 'UNEMPLOYED' || rng.chance(0.6)),
        employment,
        employmentMonths,
        monthlyIncome,
        medicalInsurance,
        seriousIllnessInsurance: medicalInsurance,
        pensionInsurance: p.age >= 16 && schooling === 'NOT_IN_SCHOOL' && rng.chance(0.88),
        dibao: attribute === 'DIBAO',
        extremeSupport: attribute === 'EXTREME_SUPPORT'
      })
    }

    const identificationYear = rng.weighted([[2014, 55], [2015, 20], [2016, 15], [2017, 7], [year, 3]] as const)
    // A candidate for exit exits only if the criteria hold for that year (below): no exits on paper.
    const exitCandidate = identificationYear < year && attribute === 'GENERAL' && rng.chance(0.5)
    const exitYear = exitCandidate ? rng.int(Math.max(year - 1, identificationYear + 1), year) : null
    const cultivated = round2(rng.int(5, 60) / 10)
    const returned = rng.chance(0.25) ? round2(rng.int(5, 40) / 10) : null
    const forest = rng.chance(0.4) ? round2(rng.int(10, 300) / 10) : null
    hRows.push({
      id: householdId,
      regionCode: village,
      householdNo: village + pad(seqNo, 4),
      status: 'POOR',
      attribute,
      mainCause,
      otherCauses,
      identificationYear: Math.min(identificationYear, year),
      housingSafe: exitCandidate || rng.chance(0.75),
      drinkingWaterSafe: exitCandidate || rng.chance(0.85),
      foodSecure: true,
      clothingSecure: true,
      phone: rng.chance(0.9) ? `1${rng.pick(['3', '5', '8'])}${pad(rng.int(0, 999_999_999), 9)}` : null,
      bankName: rng.pick(BANKS),
      bankAccountSealed: sealer.seal(`6228${pad(rng.int(0, 999_999_999), 9)}${pad(rng.int(0, 999_999), 6)}`),
      cultivatedLandMu: cultivated,
      forestLandMu: forest,
      returnedFarmlandMu: returned
    })

    // The household's helper (帮扶责任人) from the county's pool, assigned early in its first year, and the helper's visits (走访):
    // some in the reference year, and for about two households in three one within the last 60 days (the others are overdue).
    const pRows: Array<typeof helpers.$inferInsert> = []
    const aRows: Array<typeof helperAssignments.$inferInsert> = []
    const vRows: Array<typeof visits.$inferInsert> = []
    const pool = helperPools.get(county) ?? []
    helperPools.set(county, pool)
    if (pool.length === 0 || rng.chance(0.25)) {
      const helperId = randomUUID()
      pool.push(helperId)
      pRows.push({ id: helperId, regionCode: county, name: rng.pick(SURNAMES) + givenName(rng.chance(0.6) ? 'MALE' : 'FEMALE'), unit: rng.pick(HELPER_UNITS), phone: `139${pad(rng.int(0, 99_999_999), 8)}` })
    }
    const helperId = rng.pick(pool)
    const assignedOn = `${Math.min(identificationYear, year)}-0${rng.int(1, 3)}-${pad(rng.int(1, 28), 2)}`
    aRows.push({ helperId, householdId, regionCode: village, startedOn: assignedOn })
    for (let v = rng.int(1, 3); v > 0; v--) vRows.push({ householdId, helperId, regionCode: village, visitedOn: `${year}-${pad(rng.int(4, 12), 2)}-${pad(rng.int(1, 28), 2)}`, note: rng.pick(VISIT_NOTES), recordedBy: 'demo-operator' })
    if (rng.chance(0.65)) vRows.push({ householdId, helperId, regionCode: village, visitedOn: dayBefore(rng.int(1, 60)), note: rng.pick(VISIT_NOTES), recordedBy: 'demo-operator' })

    // Incomes for the year before and the reference year.
    const livestock = rng.chance(0.5)
    for (const [y, factor] of [[year - 1, 0.9], [year, 1]] as const) {
      const items: Record<string, number> = {}
      if (pensioners > 0) items.pension = round2(pensioners * 12 * (y >= 2019 ? 108 : 98))
      if (attribute === 'DIBAO') items.dibao = round2(plan.length * 12 * rng.money(150, 260, 10))
      if (attribute === 'EXTREME_SUPPORT') items.extremeSupport = round2(plan.length * rng.money(4800, 6000, 100))
      if (returned !== null) items.ecological = round2(returned * 300)
      if (forest !== null) items.publicWelfareForest = round2(forest * 15)
      if (students > 0) items.education = round2(students * rng.money(500, 1500, 100))
      items.subsidies = rng.money(200, 900, 10)
      const transfer = round2(Object.values(items).reduce((a, b) => a + b, 0))
      const business = livestock || cultivated > 0 ? round2(rng.money(500, livestock ? 9000 : 3000, 10) * factor) : 0
      const property = rng.chance(0.3) ? rng.money(100, 1500, 10) : 0
      const wageY = round2(wage * factor)
      const expenses = round2(business * rng.int(25, 45) / 100)
      const persons = plan.length
      iRows.push({
        householdId,
        year: y,
        regionCode: village,
        wage: wageY,
        business,
        property,
        transfer,
        transferItems: items,
        expenses,
        householdSize: persons,
        perCapitaNet: round2((wageY + business + property + transfer - expenses) / persons)
      })
    }

    // The exit: through an approved review with its criteria, steps and status change.
    if (exitYear !== null) {
      const household = hRows[hRows.length - 1]!
      const criteria = evaluateExitCriteria({
        year: exitYear,
        household: { foodSecure: true, clothingSecure: true, housingSafe: household.housingSafe!, drinkingWaterSafe: household.drinkingWaterSafe! },
        members: mRows.slice(mRows.length - plan.length).map(m => ({ id: m.id!, name: m.name, birthDate: m.birthDate, schooling: m.schooling!, medicalInsurance: m.medicalInsurance!, deceasedAt: null })),
        perCapitaNet: iRows.find(r => r.householdId === householdId && r.year === exitYear)!.perCapitaNet,
        povertyLine: lines.get(exitYear) ?? null
      })
      if (criteria.every(c => c.passed)) {
        household.status = 'EXITED'
        household.exitYear = exitYear
        const reviewId = randomUUID()
        const at = (day: number): Date => new Date(Date.UTC(exitYear, 9, day, 1, 30))
        rRows.push({ id: reviewId, householdId, regionCode: village, year: exitYear, status: 'APPROVED', criteria, noticeEndsAt: at(20), createdAt: at(5), updatedAt: at(21) })
        const actor = (role: string): { actorSub: string, actorRole: string } => ({ actorSub: `demo-${role.toLowerCase()}`, actorRole: role })
        sRows.push(
          { reviewId, regionCode: village, action: 'PROPOSE', fromStatus: null, toStatus: 'PROPOSED', at: at(5), ...actor('OPERATOR'), comment: '村民主评议通过' },
          { reviewId, regionCode: village, action: 'VERIFY', fromStatus: 'PROPOSED', toStatus: 'VERIFIED', at: at(13), ...actor('REVIEWER'), comment: '乡镇入户核实' },
          { reviewId, regionCode: village, action: 'APPROVE', fromStatus: 'VERIFIED', toStatus: 'APPROVED', at: at(21), ...actor('REVIEWER'), comment: '公示无异议，县审定退出' })
        cRows.push({ householdId, regionCode: village, fromStatus: 'POOR', toStatus: 'EXITED', year: exitYear, reviewId, at: at(21), ...actor('REVIEWER') })
      }
    }

    // 0–3 measures.
    const nMeasures = rng.weighted([[0, 15], [1, 35], [2, 32], [3, 18]] as const)
    const student = plan.find((_, i) => { const s = mRows[mRows.length - plan.length + i]!.schooling; return s !== 'NOT_IN_SCHOOL' && s !== 'DROPPED_OUT' && s !== 'PRESCHOOL' })
    const worker = plan.find((_, i) => mRows[mRows.length - plan.length + i]!.laborCapacity !== 'NONE' && mRows[mRows.length - plan.length + i]!.laborCapacity !== 'LOST' && plan[i]!.age < 60)
    const sick = sickIndex >= 0 ? plan[sickIndex] : undefined
    const used = new Set<string>()
    for (let j = 0; j < nMeasures; j++) {
      const startY = rng.int(Math.max(2016, identificationYear), year)
      const startDate = dateIn(startY)
      const choices: Array<readonly [() => { category: string, kind: string, details?: Record<string, unknown>, memberId?: string, amount?: number }, number]> = [
        [() => ({ category: 'INDUSTRY', kind: 'livestock', details: { project: rng.pick(['养牛', '养羊', '养猪', '养鸡']), cooperative: `${rng.pick(SURNAMES)}家养殖专业合作社` }, amount: rng.money(1000, 5000, 100) }), livestock ? 20 : 5],
        [() => ({ category: 'INDUSTRY', kind: 'specialty_farming', details: { project: rng.pick(['香菇种植', '连翘种植', '核桃种植', '中药材种植']) }, amount: rng.money(500, 3000, 100) }), 14],
        [() => ({ category: 'INDUSTRY', kind: 'solar', details: { project: '村级光伏电站收益分配' }, amount: 3000 }), 6],
        [() => ({ category: 'FINANCE', kind: 'microcredit', details: { bank: rng.pick(BANKS), principal: rng.pick([10000, 20000, 30000, 50000]), termMonths: rng.pick([12, 24, 36]), interestSubsidy: rng.money(300, 2000, 10) } }), 10],
        ...(returned !== null ? [[() => ({ category: 'ECOLOGICAL', kind: 'returned_farmland', details: { areaMu: returned } }), 10] as const] : []),
        ...(forest !== null ? [[() => ({ category: 'ECOLOGICAL', kind: 'public_welfare_forest', details: { areaMu: forest } }), 6] as const] : []),
        ...(worker !== undefined
          ? [
              [() => ({ category: 'ECOLOGICAL', kind: 'forest_ranger', details: { annualPay: 6000 }, memberId: worker.id }), 3] as const,
              [() => ({ category: 'EMPLOYMENT', kind: 'transfer_employment', details: { employer: rng.pick(['郑州富士康', '昆山电子厂', '本县建筑公司']), place: rng.pick(['郑州', '昆山', '本县']) }, memberId: worker.id }), 8] as const,
              [() => ({ category: 'EMPLOYMENT', kind: 'public_welfare_post', details: { post: rng.pick(['保洁员', '护林员', '道路养护员']), monthlyPay: rng.pick([400, 500, 600]) }, memberId: worker.id }), 5] as const,
              [() => ({ category: 'EMPLOYMENT', kind: 'skills_training', details: { course: rng.pick(['家政服务', '电工', '厨师', '种植技术']), hours: rng.pick([40, 56, 80]), certificate: rng.chance(0.6) }, memberId: worker.id }), 6] as const
            ]
          : []),
        ...(student !== undefined ? [[() => ({ category: 'EDUCATION', kind: rng.pick(['living_allowance', 'tuition_waiver', 'rain_dew_plan']), memberId: student.id, amount: rng.pick([1000, 1250, 1500, 2000]) }), 12] as const] : []),
        [() => ({ category: 'HEALTH', kind: 'family_doctor_contract', ...(sick !== undefined ? { memberId: sick.id } : {}) }), sick !== undefined ? 14 : 6],
        ...(sick !== undefined ? [[() => ({ category: 'HEALTH', kind: rng.pick(['chronic_disease_card', 'medical_assistance']), memberId: sick.id }), 10] as const] : []),
        [() => ({ category: 'HEALTH', kind: 'basic_insurance_subsidy', amount: round2(plan.length * 220) }), 5],
        [() => ({ category: 'HOUSING', kind: 'dangerous_house_renovation', details: { grade: rng.pick(['C', 'D']) }, amount: rng.pick([10000, 15000, 20000]) }), 4],
        ...(attribute === 'DIBAO' ? [[() => ({ category: 'SOCIAL_SECURITY', kind: 'dibao' }), 12] as const] : []),
        ...(attribute === 'EXTREME_SUPPORT' ? [[() => ({ category: 'SOCIAL_SECURITY', kind: 'extreme_support' }), 20] as const] : [])
      ]
      const m = rng.weighted(choices)()
      const key = `${m.category}/${m.kind}`
      if (used.has(key)) continue
      used.add(key)
      const status = startY < year ? rng.weighted([['COMPLETED', 40], ['ACTIVE', 60]] as const) : 'ACTIVE'
      const endDate = status === 'COMPLETED' ? dateIn(rng.int(startY, year)) : null
      const input = { category: m.category, kind: m.kind, status, startDate, endDate: endDate !== null && endDate < startDate ? startDate : endDate, amount: m.amount ?? null, details: m.details ?? null }
      const check = validateMeasure(input, 'measure')
      if (check.fields.length > 0) throw new Error(`demo measure ${key} does not validate: ${check.fields.map(f => `${f.path} ${f.message}`).join('; ')}`)
      meRows.push({
        householdId,
        memberId: m.memberId ?? null,
        regionCode: village,
        category: m.category,
        kind: m.kind,
        status,
        startDate,
        endDate: input.endDate,
        amount: check.amount,
        fundingSource: rng.pick(['中央财政专项扶贫资金', '省级财政专项扶贫资金', '县级统筹整合资金', '行业部门资金']),
        details: check.details
      })
    }
    return { household: hRows[0]!, members: mRows, incomes: iRows, measures: meRows, exitReviews: rRows, exitReviewSteps: sRows, statusChanges: cRows, helpers: pRows, helperAssignments: aRows, visits: vRows }
  }

  const reissueId = (m: MemberInsert): void => {
    const id = makeId(m.regionCode.slice(0, 6), m.birthDate, m.sex as Sex)
    if (id === null) throw new Error(`no national ID sequence number left for ${m.regionCode.slice(0, 6)} ${m.birthDate}`)
    m.nationalIdSealed = sealer.seal(id)
    m.nationalIdHash = sealer.lookupHash(id)
  }
  return { next, reissueId }
}

export async function generateDemoData (db: Db, sealer: Sealer, opts: DemoDataOptions): Promise<DemoDataCounts> {
  if (!Number.isInteger(opts.households) || opts.households < 0) throw new RangeError('households must be a whole number ≥ 0')
  const planner = demoPlanner(sealer, await demoContext(db, opts.region), opts)
  const totals: DemoDataCounts = { households: 0, members: 0, measures: 0, incomes: 0, workTeams: 0, helpers: 0, visits: 0 }
  const filledVillages = new Set<string>()

  for (let start = 0; start < opts.households; start += BATCH) {
    const planned = Array.from({ length: Math.min(BATCH, opts.households - start) }, () => planner.next())
    const hRows = planned.map(p => p.household)
    const mRows = planned.flatMap(p => p.members)
    const iRows = planned.flatMap(p => p.incomes)
    const meRows = planned.flatMap(p => p.measures)
    const rRows = planned.flatMap(p => p.exitReviews)
    const sRows = planned.flatMap(p => p.exitReviewSteps)
    const cRows = planned.flatMap(p => p.statusChanges)
    const pRows = planned.flatMap(p => p.helpers)
    const aRows = planned.flatMap(p => p.helperAssignments)
    const vRows = planned.flatMap(p => p.visits)
    for (const h of hRows) filledVillages.add(h.regionCode)

    // Skip (regenerate) any national ID already active in the database (e.g. an earlier run).
    for (;;) {
      const taken = new Set<string>()
      for (let i = 0; i < mRows.length; i += 5000) {
        const hashes = mRows.slice(i, i + 5000).map(m => m.nationalIdHash)
        const rows = await db.select({ h: members.nationalIdHash }).from(members).where(and(inArray(members.nationalIdHash, hashes), eq(members.active, true)))
        for (const r of rows) taken.add(r.h)
      }
      if (taken.size === 0) break
      for (const m of mRows) if (taken.has(m.nationalIdHash)) planner.reissueId(m)
    }

    await db.transaction(async (tx) => {
      if (hRows.length > 0) await tx.insert(households).values(hRows)
      for (let i = 0; i < mRows.length; i += 1000) await tx.insert(members).values(mRows.slice(i, i + 1000))
      for (let i = 0; i < iRows.length; i += 1000) await tx.insert(incomes).values(iRows.slice(i, i + 1000))
      for (let i = 0; i < meRows.length; i += 1000) await tx.insert(measures).values(meRows.slice(i, i + 1000))
      if (rRows.length > 0) await tx.insert(exitReviews).values(rRows)
      for (let i = 0; i < sRows.length; i += 1000) await tx.insert(exitReviewSteps).values(sRows.slice(i, i + 1000))
      if (cRows.length > 0) await tx.insert(householdStatusChanges).values(cRows)
      if (pRows.length > 0) await tx.insert(helpers).values(pRows)
      for (let i = 0; i < aRows.length; i += 1000) await tx.insert(helperAssignments).values(aRows.slice(i, i + 1000))
      for (let i = 0; i < vRows.length; i += 1000) await tx.insert(visits).values(vRows.slice(i, i + 1000))
    })
    totals.helpers += pRows.length
    totals.visits += vRows.length
    totals.households += hRows.length
    totals.members += mRows.length
    totals.incomes += iRows.length
    totals.measures += meRows.length
  }
  totals.workTeams = await demoWorkTeams(db, new Rng(opts.seed + 1), opts.region, [...filledVillages], opts.year ?? 2019)
  return totals
}

export interface DemoProjectCounts { projects: number, allocations: number, beneficiaries: number, payments: number }

const PROJECT_KINDS: ReadonlyArray<readonly [string, string]> = [
  ['INDUSTRY', '香菇种植基地'], ['INDUSTRY', '村级光伏电站'], ['INDUSTRY', '核桃提质增效'], ['INDUSTRY', '连翘中药材种植'], ['INDUSTRY', '肉牛养殖合作社'],
  ['EMPLOYMENT', '扶贫车间'], ['EMPLOYMENT', '公益岗位开发'], ['HOUSING', '危房改造'], ['RELOCATION', '易地扶贫搬迁安置点配套'],
  ['EDUCATION', '雨露计划职业教育补助'], ['ECOLOGICAL', '生态护林员补助'], ['FINANCE', '扶贫小额信贷贴息']
]
const DOCUMENT_PREFIX: Record<string, string> = { CENTRAL: '财农', PROVINCE: '豫财农', CITY: '三财农', COUNTY: '县财预', INTEGRATED: '县整合办', OTHER: '县扶贫办' }

/**
 * Projects for every county of the region that has registered households: per county
 * `perCounty` projects in its townships and villages, with allocations from several fund
 * sources, beneficiary households of the project's area, and payments to them within the
 * allocation (accounts sealed). Deterministic per seed but for ids; no audit entries
 * (seeding, not a user's change). Projects of a county continue its code sequence.
 */
export async function generateDemoProjects (db: Db, sealer: Sealer, opts: { region: string, seed: number, perCounty?: number, year?: number }): Promise<DemoProjectCounts> {
  const year = opts.year ?? 2019
  const perCounty = opts.perCounty ?? 12
  const rng = new Rng(opts.seed ^ 0x5eed)
  const totals: DemoProjectCounts = { projects: 0, allocations: 0, beneficiaries: 0, payments: 0 }
  const rows = await db.select({ id: households.id, regionCode: households.regionCode }).from(households)
    .where(and(like(households.regionCode, `${opts.region}%`), sql`${households.status} <> 'CLOSED'`)).orderBy(households.regionCode, households.id)
  const byCounty = new Map<string, Array<{ id: string, regionCode: string }>>()
  for (const r of rows) {
    const list = byCounty.get(r.regionCode.slice(0, 6)) ?? []
    list.push(r)
    byCounty.set(r.regionCode.slice(0, 6), list)
  }
  for (const [county, list] of byCounty) {
    const prefix = `${county}-${year}-`
    const [last] = await db.select({ n: sql<number>`coalesce(max(substring(${projects.code} from ${prefix.length + 1}::int)::int), 0)::int` }).from(projects)
      .where(sql`${projects.code} LIKE ${prefix + '%'} AND substring(${projects.code} from ${prefix.length + 1}::int) ~ '^[0-9]{4,9}$'`)
    let seq = last?.n ?? 0
    const pRows: Array<typeof projects.$inferInsert> = []
    const aRows: Array<typeof fundAllocations.$inferInsert> = []
    const bRows: Array<typeof projectBeneficiaries.$inferInsert> = []
    const payRows: Array<typeof fundPayments.$inferInsert> = []
    for (let i = 0; i < perCounty; i++) {
      const anchor = rng.pick(list)
      const village = rng.chance(0.6)
      const region = village ? anchor.regionCode : anchor.regionCode.slice(0, 9)
      const [category, kind] = rng.pick(PROJECT_KINDS)
      const status = rng.weighted([['PLANNED', 10], ['APPROVED', 15], ['IN_PROGRESS', 35], ['COMPLETED', 35], ['CANCELLED', 5]] as const)
      const start = `${year}-${pad(rng.int(2, 6), 2)}-${pad(rng.int(1, 28), 2)}`
      const end = `${year}-${pad(rng.int(9, 12), 2)}-${pad(rng.int(1, 28), 2)}`
      const id = randomUUID()
      const budget = rng.money(50_000, 3_000_000, 1000)
      // Funds: two or three sources for approved projects, whose sum is at most the budget.
      const sources = status === 'PLANNED' || status === 'CANCELLED' ? [] : [...new Set(Array.from({ length: rng.int(2, 3) }, () => rng.weighted([['CENTRAL', 35], ['PROVINCE', 20], ['CITY', 10], ['COUNTY', 15], ['INTEGRATED', 30], ['OTHER', 5]] as const)))]
      let allocated = 0
      for (const source of sources) {
        const amount = Math.round(budget * rng.int(20, 45)) / 100
        allocated = round2(allocated + amount)
        aRows.push({ projectId: id, regionCode: region, source, amount, documentNo: `${DOCUMENT_PREFIX[source]}〔${year}〕${rng.int(1, 120)}号`, date: `${year}-${pad(rng.int(1, 3), 2)}-${pad(rng.int(1, 28), 2)}` })
      }
      // Beneficiaries: up to 12 households of the project's area.
      const area = list.filter(h => h.regionCode.startsWith(region))
      const linked = status === 'CANCELLED' ? [] : area.filter(() => rng.chance(Math.min(1, 12 / area.length))).slice(0, 12)
      for (const h of linked) bRows.push({ projectId: id, householdId: h.id, regionCode: region })
      // Payments straight to households, within the allocation.
      let paid = 0
      if (status === 'IN_PROGRESS' || status === 'COMPLETED') {
        for (const h of linked) {
          const amount = rng.money(500, 5000, 100)
          if (paid + amount > allocated) break
          paid = round2(paid + amount)
          const account = `62${pad(rng.int(0, 99_999_999), 8)}${pad(rng.int(0, 999_999_999), 9)}`
          payRows.push({ projectId: id, regionCode: region, householdId: h.id, householdRegionCode: h.regionCode, amount, date: `${year}-${pad(rng.int(7, 11), 2)}-${pad(rng.int(1, 28), 2)}`, accountSealed: sealer.seal(account) })
        }
      }
      seq++
      const place = village ? '' : '镇'
      pRows.push({
        id,
        code: `${prefix}${pad(seq, 4)}`,
        name: `${place}${kind}项目`,
        category,
        regionCode: region,
        status,
        plannedStart: start,
        plannedEnd: end,
        actualStart: status === 'IN_PROGRESS' || status === 'COMPLETED' ? start : null,
        actualEnd: status === 'COMPLETED' ? end : null,
        budget,
        allocated,
        paid,
        approvedAt: status === 'PLANNED' ? null : new Date(`${start}T02:00:00Z`),
        approvedBy: status === 'PLANNED' ? null : 'demo-data'
      })
    }
    await db.transaction(async (tx) => {
      await tx.insert(projects).values(pRows)
      if (aRows.length > 0) await tx.insert(fundAllocations).values(aRows)
      if (bRows.length > 0) await tx.insert(projectBeneficiaries).values(bRows)
      if (payRows.length > 0) await tx.insert(fundPayments).values(payRows)
    })
    totals.projects += pRows.length
    totals.allocations += aRows.length
    totals.beneficiaries += bRows.length
    totals.payments += payRows.length
  }
  return totals
}

/**
 * 驻村工作队: the villages the demo filled are flagged poor villages (贫困村, as most of
 * 卢氏县's were), and every poor village of the region without a serving team gets one —
 * sent by a county or city unit, with a first secretary (第一书记) and one or two members.
 */
async function demoWorkTeams (db: Db, rng: Rng, region: string, filled: string[], year: number): Promise<number> {
  const givenName = (sex: Sex): string => rng.pick(sex === 'MALE' ? MALE_GIVEN : FEMALE_GIVEN)
  for (let i = 0; i < filled.length; i += 1000) {
    await db.update(regions).set({ isPoor: true }).where(and(inArray(regions.code, filled.slice(i, i + 1000)), eq(regions.isPoor, false)))
  }
  const poor = await db.select({ code: regions.code }).from(regions)
    .where(and(eq(regions.level, 'VILLAGE'), eq(regions.isPoor, true), like(regions.code, `${region}%`),
      sql`NOT EXISTS (SELECT 1 FROM ${workTeams} t WHERE t.region_code = ${regions.code} AND t.ended_on IS NULL)`))
    .orderBy(regions.code)
  const tRows: Array<typeof workTeams.$inferInsert> = []
  const wRows: Array<typeof workTeamMembers.$inferInsert> = []
  for (const { code } of poor) {
    const id = randomUUID()
    const startedOn = `${year - 1}-0${rng.int(3, 9)}-${pad(rng.int(1, 28), 2)}`
    tRows.push({ id, regionCode: code, sendingUnit: rng.pick(SENDING_UNITS), startedOn })
    const person = (role: string): typeof workTeamMembers.$inferInsert => {
      const sex: Sex = rng.chance(0.75) ? 'MALE' : 'FEMALE'
      return { teamId: id, regionCode: code, name: rng.pick(SURNAMES) + givenName(sex), unit: rng.pick(SENDING_UNITS), phone: `137${pad(rng.int(0, 99_999_999), 8)}`, role, joinedOn: startedOn }
    }
    wRows.push(person('FIRST_SECRETARY'))
    for (let k = rng.int(1, 2); k > 0; k--) wRows.push(person('MEMBER'))
  }
  await db.transaction(async (tx) => {
    for (let i = 0; i < tRows.length; i += 1000) await tx.insert(workTeams).values(tRows.slice(i, i + 1000))
    for (let i = 0; i < wRows.length; i += 1000) await tx.insert(workTeamMembers).values(wRows.slice(i, i + 1000))
  })
  return tRows.length
}
