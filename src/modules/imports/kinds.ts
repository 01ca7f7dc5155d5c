/**
 * The exchange kinds of contract §8 as one table: who may submit each, its row fields
 * (CSV header = NDJSON keys), how a valid row changes the matched member, and the
 * reconciliation it produces. Row validation is pure and shared by every format.
 */
import { isIsoDate } from '../../shared/dates.js'
import type { FieldError } from '../../shared/errors.js'
import { LABELS } from '../../shared/labels.js'
import { parseNationalId } from '../../shared/national-id.js'
import { hasDecimals } from '../../shared/numbers.js'
import type { Dept } from '../../shared/principal.js'
import { ACCOUNT, MAX_YUAN } from '../projects/payments.js'

type FieldType =
  | { type: 'nationalId' }
  | { type: 'text', max: number }
  | { type: 'date', notAfterToday?: boolean }
  | { type: 'enum', values: readonly string[] }
  | { type: 'int', min: number, max: number }
  | { type: 'number', min: number, max: number }
  | { type: 'bool' }
  | { type: 'account' }

type Value = string | number | boolean

/** The member's columns an exchange may change, with their SQL types (for the batched UPDATE). */
export const MEMBER_COLUMNS = {
  dibao: 'boolean',
  deceasedAt: 'date',
  medicalInsurance: 'boolean',
  seriousIllnessInsurance: 'boolean',
  schooling: 'text',
  healthConditions: 'text[]',
  disabilityGrade: 'integer',
  employment: 'text',
  employmentMonths: 'integer',
  monthlyIncome: 'numeric'
} as const
export type MemberColumn = keyof typeof MEMBER_COLUMNS

/** The member as a kind sees it: the columns it may change. */
export type MemberState = { [K in MemberColumn]: K extends 'healthConditions' ? string[] : unknown }

export interface KindSpec {
  /** Departments whose EXCHANGE users may submit (ADMIN always may). */
  depts: readonly Dept[]
  fields: Record<string, FieldType>
  /** Fields a row may leave out (checked when present). */
  optional?: Record<string, FieldType>
  /**
   * The changes a valid row makes to the matched member (only columns of MEMBER_COLUMNS);
   * null for a kind that records payments (`finance.payments`: each row goes through the
   * projects module's payment rule instead).
   */
  apply: ((row: Record<string, Value>, member: MemberState) => Partial<MemberState>) | null
  /** What the reconciliation reports, in words (docs and the report). */
  reconciliation: string
}

const STAGES = ['PRESCHOOL', 'PRIMARY', 'JUNIOR_HIGH', 'SENIOR_HIGH', 'SECONDARY_VOCATIONAL', 'HIGHER_EDUCATION'] as const
const EMPLOYMENT = Object.keys(LABELS.EmploymentStatus)

export const KINDS = {
  'civil_affairs.dibao': {
    depts: ['civil_affairs'],
    fields: {
      national_id: { type: 'nationalId' },
      name: { type: 'text', max: 50 },
      status: { type: 'enum', values: ['active', 'ended'] },
      start_date: { type: 'date', notAfterToday: true },
      monthly_amount: { type: 'number', min: 0, max: 100_000 }
    },
    apply: (row) => ({ dibao: row.status === 'active' }),
    reconciliation: 'roster persons not registered; registered members flagged dibao but not on the roster; roster members whose household attribute is not DIBAO'
  },
  'civil_affairs.deaths': {
    depts: ['civil_affairs', 'public_security'],
    fields: {
      national_id: { type: 'nationalId' },
      name: { type: 'text', max: 50 },
      date_of_death: { type: 'date', notAfterToday: true }
    },
    apply: (row) => ({ deceasedAt: row.date_of_death }),
    reconciliation: 'households with no living member left'
  },
  'health.insurance': {
    depts: ['health'],
    fields: {
      national_id: { type: 'nationalId' },
      year: { type: 'int', min: 2014, max: 2100 },
      medical_insurance: { type: 'bool' },
      serious_illness_insurance: { type: 'bool' }
    },
    apply: (row) => ({ medicalInsurance: row.medical_insurance, seriousIllnessInsurance: row.serious_illness_insurance }),
    reconciliation: 'registered members without basic medical insurance'
  },
  'education.enrollment': {
    depts: ['education'],
    fields: {
      national_id: { type: 'nationalId' },
      name: { type: 'text', max: 50 },
      stage: { type: 'enum', values: STAGES },
      status: { type: 'enum', values: ['enrolled', 'dropped_out', 'graduated'] }
    },
    apply: (row) => ({ schooling: row.status === 'enrolled' ? row.stage : row.status === 'dropped_out' ? 'DROPPED_OUT' : 'NOT_IN_SCHOOL' }),
    reconciliation: 'dropouts among registered children'
  },
  'disability.certificates': {
    depts: ['disability'],
    fields: {
      national_id: { type: 'nationalId' },
      name: { type: 'text', max: 50 },
      grade: { type: 'int', min: 1, max: 4 }
    },
    apply: (row, m) => ({ healthConditions: m.healthConditions.includes('DISABLED') ? m.healthConditions : [...m.healthConditions, 'DISABLED'], disabilityGrade: row.grade }),
    reconciliation: 'members newly certified as disabled'
  },
  'hr.employment': {
    depts: ['hr'],
    fields: {
      national_id: { type: 'nationalId' },
      employment: { type: 'enum', values: EMPLOYMENT },
      months: { type: 'int', min: 0, max: 12 },
      monthly_income: { type: 'number', min: 0, max: 1_000_000 }
    },
    apply: (row) => ({ employment: row.employment, employmentMonths: row.months, monthlyIncome: row.monthly_income }),
    reconciliation: 'able, willing members recorded as unemployed'
  },
  /**
   * The finance department's disbursement file (直接拨付到户): each row a payment from a
   * project to the registered member with that national ID, recorded through the payment
   * rule (src/modules/projects/payments.ts `applyPayment`). `voucher_no` (凭证号), when
   * given, is the payment's reference; otherwise the file's hash and the line are, so
   * that a file sent again pays nothing twice.
   */
  'finance.payments': {
    depts: ['finance'],
    fields: {
      project_code: { type: 'text', max: 60 },
      national_id: { type: 'nationalId' },
      amount: { type: 'number', min: 0.01, max: MAX_YUAN },
      date: { type: 'date', notAfterToday: true },
      account: { type: 'account' }
    },
    optional: {
      voucher_no: { type: 'text', max: 100 }
    },
    apply: null,
    reconciliation: 'payments to persons not registered; to households that are not the project\'s beneficiaries; above the project\'s allocation; to projects not found or not paying (not APPROVED or IN_PROGRESS); duplicates (a voucher or a line already paid)'
  }
} as const satisfies Record<string, KindSpec>

/** The kinds that change members (all but the payments of finance.payments). */
export type MemberKind = Exclude<keyof typeof KINDS, 'finance.payments'>

export type Kind = keyof typeof KINDS
export const KIND_NAMES = Object.keys(KINDS) as Kind[]
export const isKind = (k: unknown): k is Kind => typeof k === 'string' && k in KINDS

/**
 * Text no roster field may hold: control characters (C0, DEL, C1: NUL cannot be stored
 * at all) and unpaired surrogates (not Unicode; they break the batch's JSON and the
 * audit hash). Such a row is rejected, never retried.
 */
const POISON = /[\u0000-\u001F\u007F-\u009F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const TRUE = new Set(['true', '1', 'yes', 'y', '是'])
const FALSE = new Set(['false', '0', 'no', 'n', '否'])

function check (field: FieldType, raw: unknown, today: Date): { value: Value } | { message: string } {
  if (typeof raw === 'string' && POISON.test(raw.trim())) return { message: 'must not contain control characters or unpaired surrogates' }
  if (field.type === 'bool') {
    if (typeof raw === 'boolean') return { value: raw }
    const s = String(raw).trim().toLowerCase()
    return TRUE.has(s) ? { value: true } : FALSE.has(s) ? { value: false } : { message: 'must be true or false' }
  }
  if (field.type === 'int' || field.type === 'number') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : Number.NaN
    if (!Number.isFinite(n) || (field.type === 'int' && !Number.isInteger(n))) return { message: `must be ${field.type === 'int' ? 'a whole number' : 'a number'}` }
    if (n < field.min || n > field.max) return { message: `must be from ${field.min} to ${field.max}` }
    if (field.type === 'number' && !hasDecimals(n, 2)) return { message: 'must have at most 2 decimals' }
    return { value: n }
  }
  if (typeof raw !== 'string' && typeof raw !== 'number') return { message: 'must be text' }
  const s = String(raw).trim()
  switch (field.type) {
    case 'nationalId': {
      const id = parseNationalId(s, today)
      return id.ok ? { value: id.value } : { message: id.message }
    }
    case 'text':
      return s.length > field.max ? { message: `must be at most ${field.max} characters` } : { value: s }
    case 'account': {
      const digits = s.replace(/\s/g, '')
      return ACCOUNT.test(digits) ? { value: digits } : { message: 'must be a bank account number of 12–30 digits' }
    }
    case 'date':
      if (!isIsoDate(s)) return { message: 'must be a date YYYY-MM-DD' }
      return field.notAfterToday === true && s > today.toISOString().slice(0, 10) ? { message: 'must not be in the future' } : { value: s }
    case 'enum': {
      const v = field.values.find(x => x.toLowerCase() === s.toLowerCase())
      return v !== undefined ? { value: v } : { message: `must be one of ${field.values.join(', ')}` }
    }
  }
}

const isMissing = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && v.trim() === '')

/** Validates one row of a kind: the typed values, or every bad field with its reason. */
export function validateRow (kind: Kind, record: Record<string, unknown>, today: Date): { row: Record<string, Value> } | { errors: FieldError[] } {
  const errors: FieldError[] = []
  const row: Record<string, Value> = {}
  const spec: KindSpec = KINDS[kind]
  const fields = [...Object.entries(spec.fields).map(([n, f]) => [n, f, true] as const), ...Object.entries(spec.optional ?? {}).map(([n, f]) => [n, f, false] as const)]
  for (const [name, field, required] of fields) {
    const raw = record[name]
    if (isMissing(raw)) {
      if (required) errors.push({ path: name, message: 'is required' })
      continue
    }
    const r = check(field, raw, today)
    if ('message' in r) errors.push({ path: name, message: r.message })
    else row[name] = r.value
  }
  return errors.length > 0 ? { errors } : { row }
}
