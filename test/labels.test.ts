import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot } from '../src/paths.js'
import t from 'tap'
import { isEnumValue, LABELS, labelsFor, MEASURE_KIND_VALUES, POVERTY_CAUSES, valuesOf, type LabelEnum } from '../src/shared/labels.js'
import { MEASURE_KINDS } from '../src/shared/measure-details.js'

// Contract §5's enums, transcribed as the oracle, checked against the committed copy of the
// contract's text (test/contract/enums.graphql).
const CONTRACT_ENUMS: Record<string, string[]> = {
  AdminLevel: ['PROVINCE', 'CITY', 'COUNTY', 'TOWNSHIP', 'VILLAGE'],
  HouseholdStatus: ['POOR', 'EXITED', 'RETURNED', 'CLOSED'],
  PovertyAttribute: ['GENERAL', 'DIBAO', 'EXTREME_SUPPORT'],
  PovertyCause: ['ILLNESS', 'DISABILITY', 'EDUCATION', 'DISASTER', 'LACK_OF_LAND', 'LACK_OF_WATER',
    'LACK_OF_SKILLS', 'LACK_OF_LABOR', 'LACK_OF_FUNDS', 'POOR_TRANSPORT', 'LACK_OF_MOTIVATION', 'OTHER'],
  Relation: ['HEAD', 'SPOUSE', 'CHILD', 'CHILD_IN_LAW', 'GRANDCHILD', 'PARENT', 'GRANDPARENT', 'SIBLING', 'OTHER'],
  Sex: ['MALE', 'FEMALE'],
  HealthCondition: ['CHRONIC_ILLNESS', 'SERIOUS_ILLNESS', 'DISABLED'],
  LaborCapacity: ['SKILLED', 'ORDINARY', 'WEAK', 'LOST', 'NONE'],
  SchoolingStatus: ['NOT_IN_SCHOOL', 'PRESCHOOL', 'PRIMARY', 'JUNIOR_HIGH', 'SENIOR_HIGH',
    'SECONDARY_VOCATIONAL', 'HIGHER_EDUCATION', 'DROPPED_OUT'],
  EmploymentStatus: ['LOCAL', 'MIGRANT', 'PUBLIC_WELFARE_POST', 'SELF_EMPLOYED', 'UNEMPLOYED'],
  MeasureCategory: ['INDUSTRY', 'EMPLOYMENT', 'RELOCATION', 'FINANCE', 'ECOLOGICAL', 'EDUCATION', 'HEALTH', 'HOUSING', 'SOCIAL_SECURITY'],
  MeasureStatus: ['PLANNED', 'ACTIVE', 'COMPLETED', 'CANCELLED'],
  ExitReviewStatus: ['PROPOSED', 'VERIFIED', 'APPROVED', 'REJECTED'],
  Role: ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR', 'EXCHANGE'],
  // §10
  ProjectStatus: ['PLANNED', 'APPROVED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED'],
  FundSource: ['CENTRAL', 'PROVINCE', 'CITY', 'COUNTY', 'INTEGRATED', 'OTHER']
}

/**
 * The contract's §5 and §10 enums, copied verbatim into the repository (tests read nothing outside
 * it): when the contract's §5 changes, copy it here again.
 */
const CONTRACT_COPY = join(projectRoot, 'test', 'contract', 'enums.graphql')
const CJK = /[\u4e00-\u9fff]/

/** The `enum X { ... }` definitions of a text. */
function parseEnums (text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const m of text.matchAll(/enum\s+(\w+)\s*\{([^}]*)\}/g)) out[m[1]!] = m[2]!.trim().split(/\s+/)
  return out
}

t.test('the transcription matches the committed copy of the contract text', async (t) => {
  t.same(parseEnums(readFileSync(CONTRACT_COPY, 'utf8')), CONTRACT_ENUMS)
})

t.test('every contract enum value has a Chinese label', async (t) => {
  for (const [name, values] of Object.entries(CONTRACT_ENUMS)) {
    t.ok(Object.hasOwn(LABELS, name), `${name} has a table`)
    const table = LABELS[name as LabelEnum] as Record<string, string>
    t.same(Object.keys(table), values, `${name}: exactly the contract's values, in its order`)
    for (const value of values) {
      const label = table[value]
      t.ok(typeof label === 'string' && label.trim() !== '' && CJK.test(label), `${name}.${value} → ${String(label)}`)
    }
  }
  // The project's own enums beside the contract's (test/schema-docs.test.ts checks them against the schema).
  const own = ['MemberRemovalReason', 'HouseholdCloseReason', 'ExitReviewAction', 'TargetIndicator', 'WorkItemStatus', 'WorkItemDisposition', 'WorkTeamRole']
  t.same(Object.keys(LABELS).sort(), [...Object.keys(CONTRACT_ENUMS), ...own, 'MeasureKind'].sort(), 'no other tables')
})

t.test('measure kinds: every kind of every category has a Chinese label, and no label is unused', async (t) => {
  const kinds = new Set(Object.values(MEASURE_KINDS).flat())
  t.same([...kinds].sort(), [...MEASURE_KIND_VALUES].sort())
  for (const kind of MEASURE_KIND_VALUES) t.ok(CJK.test(LABELS.MeasureKind[kind]), kind)
})

t.test('the policy terms of the registration system', async (t) => {
  t.equal(LABELS.PovertyAttribute.DIBAO, '低保贫困户')
  t.equal(LABELS.PovertyCause.LACK_OF_MOTIVATION, '自身发展动力不足')
  t.equal(LABELS.LaborCapacity.WEAK, '弱劳动力或半劳动力')
  t.equal(LABELS.MeasureKind.rain_dew_plan, '雨露计划')
})

t.test('derived value lists and the guard', async (t) => {
  t.same(POVERTY_CAUSES, CONTRACT_ENUMS.PovertyCause)
  t.same(valuesOf('Role'), CONTRACT_ENUMS.Role)
  t.ok(isEnumValue('Sex', 'FEMALE'))
  t.notOk(isEnumValue('Sex', 'female'))
  t.notOk(isEnumValue('Sex', 'toString'), 'no inherited names')
  t.notOk(isEnumValue('Sex', 1))
})

t.test('labelsFor(zh) and labelsFor(en) cover the same (enum, value) pairs', async (t) => {
  const zh = labelsFor('zh')
  const en = labelsFor('en')
  const pairs = (list: typeof zh): string[] => list.map(l => `${l.enum}.${l.value}`)
  t.same(pairs(en), pairs(zh))
  t.equal(new Set(pairs(zh)).size, zh.length, 'no duplicates')
  const expected = Object.entries(LABELS).flatMap(([name, table]) => Object.keys(table).map(v => `${name}.${v}`))
  t.same(pairs(zh), expected, 'every table entry')
  for (const l of zh) t.ok(CJK.test(l.label), `zh ${l.enum}.${l.value}`)
  for (const l of en) t.ok(/^[\x20-\x7e]+$/.test(l.label) && /[A-Za-z]/.test(l.label), `en ${l.enum}.${l.value}: ${l.label}`)
  t.equal(en.find(l => l.enum === 'PovertyCause' && l.value === 'LACK_OF_LAND')?.label, 'Lack of land')
  t.equal(en.find(l => l.enum === 'MeasureKind' && l.value === 'e_commerce')?.label, 'E-commerce')
})
