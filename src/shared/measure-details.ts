import type { FieldError } from './errors.js'
import { isEnumValue, MEASURE_CATEGORIES, MEASURE_STATUSES, type MeasureCategory, type MeasureKind } from './labels.js'
import { isIsoDate } from './dates.js'

/**
 * What a measure (帮扶措施) may carry, per category and kind: the plan's "five hard
 * battles" (industry, employment, relocation, finance, ecology) and "five
 * guarantees" (education, health, housing, social security). `kind` is a closed
 * list per category and `details` a small JSON object whose keys each kind fixes,
 * so that statistics and exchange jobs can rely on them. Held as data: one schema
 * per kind, one checker per key.
 */

/** Poverty-alleviation microcredit (扶贫小额信贷): at most 50,000 yuan per household. */
export const MICROCREDIT_CAP = 50_000
/** New round of returning farmland to forest (新一轮退耕还林): 1,600 yuan per mu. */
export const RETURNED_FARMLAND_YUAN_PER_MU = 1600
/** Provincial-or-higher public-welfare forest (公益林): 15 yuan per mu per year. */
export const PUBLIC_WELFARE_FOREST_YUAN_PER_MU = 15
/** A sanity bound on any single measure's amount, in yuan. */
export const MAX_AMOUNT = 10_000_000

const MAX_TEXT = 200
const MAX_AREA_MU = 100_000
const MAX_HOURS = 5_000

interface Context { startDate: string | null }

/** Checks one value at `path`; returns the normalised value, or undefined after pushing an error. */
type Check = (value: unknown, path: string, errors: FieldError[], ctx: Context) => unknown

interface Shape {
  required?: Record<string, Check>
  optional?: Record<string, Check>
}

/** How a kind's `amount` follows from its details. */
interface AmountRule {
  /** The details key the amount comes from (errors about a too large result point at it). */
  source: string
  derive: (source: number) => number
  /** Message when a given amount differs from the derived one; null: a given amount wins, the derived one is only the default. */
  mismatch: string | null
}

interface KindSchema extends Shape {
  amount?: AmountRule
}

const fail = (errors: FieldError[], path: string, message: string): undefined => {
  errors.push({ path, message })
  return undefined
}

const round2 = (n: number): number => {
  const r = Math.round(n * 100) / 100
  return r === 0 ? 0 : r // no -0
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}


// --- Checkers --------------------------------------------------------------

const text: Check = (v, path, errors) => {
  if (typeof v !== 'string' || v.trim() === '') return fail(errors, path, 'must be a non-empty string')
  const s = v.trim()
  if (s.length > MAX_TEXT) return fail(errors, path, `must be at most ${MAX_TEXT} characters`)
  return s
}

const bool: Check = (v, path, errors) => typeof v === 'boolean' ? v : fail(errors, path, 'must be true or false')

const oneOf = (values: readonly string[]): Check => (v, path, errors) =>
  typeof v === 'string' && values.includes(v) ? v : fail(errors, path, `must be one of: ${values.join(', ')}`)

/** A number with at most 2 decimals (money in yuan, areas in mu), within bounds. */
const decimal = (opts: { positive: boolean, max: number, maxNote?: string }): Check => (v, path, errors) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fail(errors, path, 'must be a number')
  if (opts.positive ? v <= 0 : v < 0) return fail(errors, path, opts.positive ? 'must be greater than 0' : 'must not be negative')
  if (v > opts.max) return fail(errors, path, `must be at most ${opts.max}${opts.maxNote ?? ''}`)
  if (round2(v) !== v) return fail(errors, path, 'must have at most 2 decimal places')
  return round2(v)
}

const money = decimal({ positive: false, max: MAX_AMOUNT })
const positiveMoney = decimal({ positive: true, max: MAX_AMOUNT })
const area = decimal({ positive: true, max: MAX_AREA_MU })

const integer = (min: number, max: number): Check => (v, path, errors) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(errors, path, `must be a whole number from ${min} to ${max}`)

/** A date; `afterStart` also requires it not to lie before the measure's start date. */
const date = (afterStart: boolean): Check => (v, path, errors, ctx) => {
  if (!isIsoDate(v)) return fail(errors, path, 'must be a real date written YYYY-MM-DD')
  if (afterStart && ctx.startDate !== null && v < ctx.startDate) return fail(errors, path, 'must not be before startDate')
  return v
}

const object = (shape: Shape): Check => (v, path, errors, ctx) =>
  isPlainObject(v) ? checkShape(v, shape, path, errors, ctx) : fail(errors, path, 'must be a JSON object')

/** Required and optional keys of an object; unknown keys are errors; null counts as absent. */
function checkShape (obj: Record<string, unknown>, shape: Shape, path: string, errors: FieldError[], ctx: Context): Record<string, unknown> {
  const required = shape.required ?? {}
  const optional = shape.optional ?? {}
  for (const key of Object.keys(obj)) {
    if (!Object.hasOwn(required, key) && !Object.hasOwn(optional, key)) errors.push({ path: `${path}.${key}`, message: 'is not a known field for this kind' })
  }
  const out: Record<string, unknown> = {}
  for (const [key, check] of Object.entries(required)) {
    const v = Object.hasOwn(obj, key) ? obj[key] : undefined
    if (v === undefined || v === null) errors.push({ path: `${path}.${key}`, message: 'is required' })
    else out[key] = check(v, `${path}.${key}`, errors, ctx)
  }
  for (const [key, check] of Object.entries(optional)) {
    const v = Object.hasOwn(obj, key) ? obj[key] : undefined
    if (v !== undefined && v !== null) out[key] = check(v, `${path}.${key}`, errors, ctx)
  }
  return out
}

// --- The schemas -------------------------------------------------------------

const NOTHING: KindSchema = {}
const INDUSTRY_PROJECT: KindSchema = { optional: { project: text, cooperative: text } }

const SCHEMAS = {
  INDUSTRY: {
    specialty_farming: INDUSTRY_PROJECT,
    livestock: INDUSTRY_PROJECT,
    solar: INDUSTRY_PROJECT,
    e_commerce: INDUSTRY_PROJECT,
    rural_tourism: INDUSTRY_PROJECT,
    processing: INDUSTRY_PROJECT,
    asset_income_share: INDUSTRY_PROJECT
  },
  EMPLOYMENT: {
    transfer_employment: { required: { employer: text, place: text } },
    public_welfare_post: { required: { post: text, monthlyPay: money } },
    workshop: { required: { workshop: text } },
    skills_training: {
      required: { course: text, hours: decimal({ positive: true, max: MAX_HOURS }) },
      optional: { certificate: bool }
    }
  },
  RELOCATION: {
    relocation: {
      required: { resettlementSite: text, moveInDate: date(true) },
      optional: { oldHouseDemolished: bool, landReclaimed: bool }
    }
  },
  FINANCE: {
    microcredit: {
      required: {
        bank: text,
        principal: decimal({ positive: true, max: MICROCREDIT_CAP, maxNote: ' (the 50,000 yuan cap on poverty-alleviation microcredit)' }),
        termMonths: integer(1, 36),
        interestSubsidy: money
      },
      optional: {
        /** 展期: extension for a household that could not repay on time through no fault of its own. */
        extension: object({ required: { months: integer(1, 12), approvedOn: date(true) } }),
        /** 无还本续贷: renewal without repaying the principal first. */
        renewal: object({ required: { approvedOn: date(true) } }),
        overdue: bool,
        repaidOn: date(true)
      },
      amount: { source: 'principal', derive: p => p, mismatch: 'must equal details.principal (or be omitted)' }
    }
  },
  ECOLOGICAL: {
    forest_ranger: {
      required: { annualPay: positiveMoney },
      amount: { source: 'annualPay', derive: p => p, mismatch: null }
    },
    returned_farmland: {
      required: { areaMu: area },
      amount: { source: 'areaMu', derive: mu => mu * RETURNED_FARMLAND_YUAN_PER_MU, mismatch: `must equal details.areaMu × ${RETURNED_FARMLAND_YUAN_PER_MU} (or be omitted)` }
    },
    public_welfare_forest: {
      required: { areaMu: area },
      amount: { source: 'areaMu', derive: mu => mu * PUBLIC_WELFARE_FOREST_YUAN_PER_MU, mismatch: `must equal details.areaMu × ${PUBLIC_WELFARE_FOREST_YUAN_PER_MU} (or be omitted)` }
    }
  },
  EDUCATION: { tuition_waiver: NOTHING, living_allowance: NOTHING, rain_dew_plan: NOTHING, student_loan: NOTHING, other: NOTHING },
  HEALTH: {
    basic_insurance_subsidy: NOTHING,
    serious_illness_insurance: NOTHING,
    family_doctor_contract: NOTHING,
    medical_assistance: NOTHING,
    chronic_disease_card: NOTHING,
    other: NOTHING
  },
  HOUSING: {
    /** Grade C or D of the rural dangerous-house appraisal. */
    dangerous_house_renovation: { optional: { grade: oneOf(['C', 'D']) } },
    other: NOTHING
  },
  SOCIAL_SECURITY: { dibao: NOTHING, extreme_support: NOTHING, pension_subsidy: NOTHING, temporary_assistance: NOTHING, other: NOTHING }
} satisfies Record<MeasureCategory, Partial<Record<MeasureKind, KindSchema>>>

/** The kinds each category allows (every one has a label in LABELS.MeasureKind). */
export const MEASURE_KINDS: Record<MeasureCategory, readonly string[]> = Object.fromEntries(
  MEASURE_CATEGORIES.map(c => [c, Object.freeze(Object.keys(SCHEMAS[c]))])
) as Record<MeasureCategory, readonly string[]>

const schemaOf = (category: MeasureCategory, kind: unknown): KindSchema | null => {
  const table: Record<string, KindSchema> = SCHEMAS[category]
  return typeof kind === 'string' && Object.hasOwn(table, kind) ? table[kind]! : null
}

export interface MeasureFields {
  category: string
  kind: string
  status?: string | null
  startDate: string
  endDate?: string | null
  amount?: number | null
  details?: unknown
}

export interface MeasureCheck {
  /** Every problem found, with paths under `path`; empty when the measure is valid. */
  fields: FieldError[]
  /** Normalised details (trimmed strings, known keys only, nulls dropped); null when absent or invalid. */
  details: Record<string, unknown> | null
  /** The amount to store: the given one, or the one the policy derives from details; null when invalid. */
  amount: number | null
}

/**
 * Validates a measure's category, kind, status, dates, amount and details as one
 * unit (the rules depend on each other), reporting every problem at once. Never
 * throws on any input; messages name the rule, never the value.
 */
export function validateMeasure (input: MeasureFields, path: string): MeasureCheck {
  const errors: FieldError[] = []
  const at = (key: string): string => `${path}.${key}`

  const category = isEnumValue('MeasureCategory', input.category) ? input.category : null
  if (category === null) errors.push({ path: at('category'), message: `must be one of: ${MEASURE_CATEGORIES.join(', ')}` })
  if (input.status !== undefined && input.status !== null && !isEnumValue('MeasureStatus', input.status)) {
    errors.push({ path: at('status'), message: `must be one of: ${MEASURE_STATUSES.join(', ')}` })
  }

  const ctx: Context = { startDate: isIsoDate(input.startDate) ? input.startDate : null }
  if (ctx.startDate === null) errors.push({ path: at('startDate'), message: 'must be a real date written YYYY-MM-DD' })
  if (input.endDate !== undefined && input.endDate !== null) date(true)(input.endDate, at('endDate'), errors, ctx)
  let amount: number | null = null
  if (input.amount !== undefined && input.amount !== null) amount = (money(input.amount, at('amount'), errors, ctx) as number | undefined) ?? null

  const schema = category === null ? null : schemaOf(category, input.kind)
  if (category !== null && schema === null) {
    errors.push({ path: at('kind'), message: `must be one of the ${category} kinds: ${MEASURE_KINDS[category].join(', ')}` })
  }

  let details: Record<string, unknown> | null = null
  if (schema !== null) {
    const raw = input.details
    const requiresSome = Object.keys(schema.required ?? {}).length > 0
    if (raw === undefined || raw === null) {
      if (requiresSome) details = checkShape({}, schema, at('details'), errors, ctx)
    } else if (!isPlainObject(raw)) {
      errors.push({ path: at('details'), message: 'must be a JSON object' })
    } else {
      details = checkShape(raw, schema, at('details'), errors, ctx)
    }

    const rule = schema.amount
    const source = rule === undefined || details === null ? undefined : details[rule.source]
    if (rule !== undefined && typeof source === 'number') {
      const derived = round2(rule.derive(source))
      if (derived > MAX_AMOUNT) {
        errors.push({ path: at(`details.${rule.source}`), message: `is too large: the amount it gives exceeds ${MAX_AMOUNT}` })
      } else if (amount === null) {
        amount = derived
      } else if (rule.mismatch !== null && amount !== derived) {
        errors.push({ path: at('amount'), message: rule.mismatch })
      }
    }
  }

  if (errors.length > 0) return { fields: errors, details: null, amount: null }
  return { fields: [], details, amount }
}
