/**
 * The two reads that `npm run bench` compares across servers — (a) one household with
 * its members and measures, (b) a page of 50 households of a township with members,
 * measures and incomes — as the fields every candidate can return: column names in
 * camelCase, which is also what the service's schema and PostGraphile's inflection call
 * them. Sealed columns (national IDs, bank accounts) are left out: only the service can
 * open them.
 */
import canonicalize from 'canonicalize'

export const HOUSEHOLD_FIELDS = ['id', 'householdNo', 'status', 'attribute', 'mainCause', 'identificationYear', 'exitYear', 'housingSafe', 'drinkingWaterSafe',
  'foodSecure', 'clothingSecure', 'phone', 'bankName', 'cultivatedLandMu', 'forestLandMu', 'version']
export const MEMBER_FIELDS = ['id', 'name', 'sex', 'birthDate', 'relation', 'education', 'healthConditions', 'laborCapacity', 'schooling', 'employment',
  'monthlyIncome', 'medicalInsurance', 'dibao', 'active', 'version']
export const MEASURE_FIELDS = ['id', 'category', 'kind', 'status', 'startDate', 'endDate', 'amount', 'fundingSource', 'details', 'version']
export const INCOME_FIELDS = ['year', 'wage', 'business', 'property', 'transfer', 'expenses', 'householdSize', 'perCapitaNet']
/** numeric columns: PostGraphile answers them as strings (BigFloat), the others as numbers. */
const NUMERIC = new Set(['cultivatedLandMu', 'forestLandMu', 'monthlyIncome', 'amount', 'wage', 'business', 'property', 'transfer', 'expenses', 'perCapitaNet'])

export const PAGE_SIZE = 50

export const column = (field: string): string => field.replace(/[A-Z]/g, c => '_' + c.toLowerCase())

const f = (fields: string[]): string => fields.join(' ')

/** The service's GraphQL. */
export const ours = {
  household: `query ($id: ID!) { household(id: $id) { ${f(HOUSEHOLD_FIELDS)} members { ${f(MEMBER_FIELDS)} } measures { ${f(MEASURE_FIELDS)} } } }`,
  page: `query ($region: String!) { households(filter: { regionCode: $region }, first: ${PAGE_SIZE}) {
    edges { node { ${f(HOUSEHOLD_FIELDS)} members { ${f(MEMBER_FIELDS)} } measures { ${f(MEASURE_FIELDS)} } incomes { ${f(INCOME_FIELDS)} } } }
    pageInfo { hasNextPage } } }`
}

/**
 * PostGraphile v5 (Amber preset + connection filter) over the same tables, same orders.
 * Amber calls an `id` column `rowId` (`id` is the Relay node id): aliased back to `id`.
 */
const g = (fields: string[]): string => fields.map(k => (k === 'id' ? 'id: rowId' : k)).join(' ')
const pgMembers = `membersByHouseholdId(condition: { active: true }, orderBy: [BIRTH_DATE_ASC, ROW_ID_ASC]) { nodes { ${g(MEMBER_FIELDS)} } }`
const pgMeasures = `measuresByHouseholdId(orderBy: [START_DATE_ASC, ROW_ID_ASC]) { nodes { ${g(MEASURE_FIELDS)} } }`
export const postgraphile = {
  household: `query ($id: UUID!) { householdByRowId(rowId: $id) { ${g(HOUSEHOLD_FIELDS)} ${pgMembers} ${pgMeasures} } }`,
  page: `query ($region: String!) { allHouseholds(first: ${PAGE_SIZE}, orderBy: PRIMARY_KEY_ASC, filter: { regionCode: { startsWith: $region } }) {
    nodes { ${g(HOUSEHOLD_FIELDS)} ${pgMembers} ${pgMeasures} incomesByHouseholdId(orderBy: YEAR_DESC) { nodes { ${g(INCOME_FIELDS)} } } }
    pageInfo { hasNextPage } } }`
}

type Obj = Record<string, unknown>

function pick (o: Obj, fields: string[]): Obj {
  return Object.fromEntries(fields.map(k => [k, NUMERIC.has(k) && o[k] !== null && o[k] !== undefined ? Number(o[k]) : o[k]]))
}

const nodes = (v: unknown): Obj[] => (Array.isArray(v) ? v : (v as { nodes: Obj[] }).nodes) as Obj[]
const byKey = (key: string) => (a: Obj, b: Obj): number => String(a[key]).localeCompare(String(b[key]))

/** A household of any candidate's answer in one comparable form (lists sorted by key). */
function household (h: Obj): Obj {
  const incomes = h.incomes ?? h.incomesByHouseholdId
  return {
    ...pick(h, HOUSEHOLD_FIELDS),
    members: nodes(h.members ?? h.membersByHouseholdId).map(m => pick(m, MEMBER_FIELDS)).sort(byKey('id')),
    measures: nodes(h.measures ?? h.measuresByHouseholdId).map(m => pick(m, MEASURE_FIELDS)).sort(byKey('id')),
    ...(incomes === undefined ? {} : { incomes: nodes(incomes).map(i => pick(i, INCOME_FIELDS)).sort(byKey('year')) })
  }
}

/**
 * The households of an answer — `{ data: { household } }`, `{ data: { householdById } }`,
 * or a page (`edges`/`nodes`, with `pageInfo.hasNextPage`) — as canonical JSON.
 */
export function comparable (body: string): string {
  const parsed = JSON.parse(body) as { data?: Record<string, unknown>, errors?: unknown }
  if (parsed.errors !== undefined || parsed.data == null) throw new Error(`an error answer: ${body.slice(0, 500)}`)
  const [value] = Object.values(parsed.data) as [Obj | null]
  if (value === null) return 'null'
  if (!('pageInfo' in value)) return canonicalize(household(value))!
  const list = 'edges' in value ? (value.edges as Array<{ node: Obj }>).map(e => e.node) : nodes(value)
  return canonicalize({ households: list.map(household), hasNextPage: (value.pageInfo as Obj).hasNextPage })!
}
