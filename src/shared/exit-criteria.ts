import { ageOn } from './national-id.js'

/**
 * The exit criteria of contract §6 (两不愁三保障, plus safe water and the income line),
 * as one pure function: the single definition used by `exitCriteria`, by every step of
 * an exit review and by the monitoring of exited households.
 */
export const EXIT_CRITERIA = ['INCOME', 'FOOD', 'CLOTHING', 'EDUCATION', 'MEDICAL', 'HOUSING', 'WATER'] as const
export type ExitCriterion = typeof EXIT_CRITERIA[number]

/** Compulsory-education age on 1 September of the year (义务教育阶段). */
export const SCHOOL_AGE = { min: 6, max: 15 } as const

export interface CriterionResult {
  criterion: ExitCriterion
  passed: boolean
  /** The reason in words, with the figures it rests on. */
  detail: string
  /** The same evidence as data. */
  evidence: Record<string, unknown>
}

export interface CriteriaHousehold {
  foodSecure: boolean
  clothingSecure: boolean
  housingSafe: boolean
  drinkingWaterSafe: boolean
}

export interface CriteriaMember {
  id: string
  name: string
  birthDate: string
  schooling: string
  medicalInsurance: boolean
  deceasedAt: string | null
}

export interface CriteriaInput {
  year: number
  household: CriteriaHousehold
  /** The household's active members; deceased ones are not counted. */
  members: readonly CriteriaMember[]
  /** Per-capita net income of that year's income record, or null when there is none. */
  perCapitaNet: number | null
  /** That year's poverty line (yuan per person), or null when none is on record. */
  povertyLine: number | null
}

const OUT_OF_SCHOOL = new Set(['NOT_IN_SCHOOL', 'DROPPED_OUT'])

const yuan = (n: number): string => n.toFixed(2)
const names = (ms: readonly CriteriaMember[]): string => ms.map(m => m.name).join('、')
const who = (ms: readonly CriteriaMember[]) => ms.map(m => ({ memberId: m.id, name: m.name }))

function flag (criterion: ExitCriterion, ok: boolean, yes: string, no: string): CriterionResult {
  return { criterion, passed: ok, detail: ok ? yes : no, evidence: {} }
}

function income ({ year, perCapitaNet, povertyLine }: CriteriaInput): CriterionResult {
  const evidence = { year, perCapitaNet, povertyLine }
  if (povertyLine === null) return { criterion: 'INCOME', passed: false, detail: `${year}年贫困线未录入`, evidence }
  if (perCapitaNet === null) return { criterion: 'INCOME', passed: false, detail: `无${year}年收入记录（贫困线 ${povertyLine} 元）`, evidence }
  const passed = perCapitaNet >= povertyLine
  return { criterion: 'INCOME', passed, detail: `${year}年人均纯收入 ${yuan(perCapitaNet)} 元 ${passed ? '≥' : '<'} 贫困线 ${povertyLine} 元`, evidence }
}

/** Evaluates every criterion, in the order of EXIT_CRITERIA. */
export function evaluateExitCriteria (input: CriteriaInput): CriterionResult[] {
  const { year, household: h } = input
  const living = input.members.filter(m => m.deceasedAt === null)
  const onFirstSeptember = `${year}-09-01`
  const schoolAge = living.filter(m => {
    const age = ageOn(m.birthDate, onFirstSeptember)
    return age >= SCHOOL_AGE.min && age <= SCHOOL_AGE.max
  })
  const outOfSchool = schoolAge.filter(m => OUT_OF_SCHOOL.has(m.schooling))
  const uninsured = living.filter(m => !m.medicalInsurance)
  return [
    income(input),
    flag('FOOD', h.foodSecure, '不愁吃', '吃饭无保障'),
    flag('CLOTHING', h.clothingSecure, '不愁穿', '穿衣无保障'),
    {
      criterion: 'EDUCATION',
      passed: outOfSchool.length === 0,
      detail: outOfSchool.length === 0
        ? `义务教育有保障（${year}年9月1日 ${SCHOOL_AGE.min}–${SCHOOL_AGE.max} 周岁 ${schoolAge.length} 人，均在校）`
        : `${year}年9月1日 ${SCHOOL_AGE.min}–${SCHOOL_AGE.max} 周岁未在校：${names(outOfSchool)}`,
      evidence: { schoolAgeMembers: schoolAge.length, outOfSchool: who(outOfSchool) }
    },
    {
      criterion: 'MEDICAL',
      passed: uninsured.length === 0,
      detail: uninsured.length === 0 ? `基本医疗有保障（${living.length} 人均参加基本医疗保险）` : `未参加基本医疗保险：${names(uninsured)}`,
      evidence: { livingMembers: living.length, uninsured: who(uninsured) }
    },
    flag('HOUSING', h.housingSafe, '住房安全有保障', '住房不安全（危房）'),
    flag('WATER', h.drinkingWaterSafe, '饮水安全有保障', '饮水不安全')
  ]
}

export const failedCriteria = (results: readonly CriterionResult[]): CriterionResult[] => results.filter(r => !r.passed)
