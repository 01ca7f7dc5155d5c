/**
 * The service's requests of the read scenarios a–d (bench/compare.ts) and of the write
 * scenario f (bench/writes.ts), shared with the scale benchmark (bench/scale.ts):
 *   a  one household by id with members and measures (GraphQL)
 *   b  a page of 50 households of one township with members, measures, incomes (GraphQL)
 *   c  eligibility check of 100 national IDs (REST)
 *   d  statistics of a county with its breakdown (GraphQL)
 *   f  updateMember(id, { employmentMonths }) on a member (GraphQL)
 */
import { ours } from './read-shapes.js'

export interface Request { method: 'GET' | 'POST', path: string, body?: string, headers: Record<string, string> }
export type ReadScenario = 'a' | 'b' | 'c' | 'd'

/** The inputs the reads draw from (round robin) and the bearer headers they send. */
export interface ReadInputs {
  householdIds: string[]
  townships: string[]
  counties: string[]
  /** JSON bodies of the eligibility check, 100 national IDs each. */
  eligBodies: string[]
  /** The statistics' year. */
  year: number
  /** `Bearer …` of an OPERATOR, a VIEWER and the health department's EXCHANGE user of the city. */
  operator: string
  viewer: string
  hospital: string
}

const json = { 'content-type': 'application/json' }
const STAT_FIELDS = `year households { total poor exited returned closed } persons { total poor } exitedInYear personsExitedInYear industryCoverageRate
  employmentRate medicalInsuranceRate dropouts unsafeHousing povertyIncidence villages { poor exited } relocation { persons personsInYear } forestRangerPosts
  microcredit { loans outstanding overdue } causeMeasureMatchRate`
const STATS_QUERY = `query ($r: String!, $y: Int!) { statistics(regionCode: $r, year: $y) { ${STAT_FIELDS} breakdown { region { code } ${STAT_FIELDS} } } }`

export const gql = (auth: Record<string, string>, query: string, variables: Record<string, unknown>): Request =>
  ({ method: 'POST', path: '/graphql', headers: { ...json, ...auth }, body: JSON.stringify({ query, variables }) })

/** The service's request of scenario `s` for the i-th input. */
export function readRequest (inputs: ReadInputs, s: ReadScenario, i: number): Request {
  switch (s) {
    case 'a': return gql({ authorization: inputs.operator }, ours.household, { id: inputs.householdIds[i % inputs.householdIds.length] })
    case 'b': return gql({ authorization: inputs.operator }, ours.page, { region: inputs.townships[i % inputs.townships.length] })
    case 'c': return { method: 'POST', path: '/api/v1/eligibility', headers: { ...json, authorization: inputs.hospital }, body: inputs.eligBodies[i % inputs.eligBodies.length] }
    case 'd': return gql({ authorization: inputs.viewer }, STATS_QUERY, { r: inputs.counties[i % inputs.counties.length], y: inputs.year })
  }
}

export const UPDATE_MEMBER = 'mutation ($id: ID!, $m: Int!) { updateMember(id: $id, input: { employmentMonths: $m }) { id version } }'

/** Scenario f: an OPERATOR's (`Bearer …`) change of a member's employment months. */
export function memberWrite (operator: string, memberId: string, months: number): Request & { method: 'POST', body: string } {
  return { method: 'POST', path: '/graphql', headers: { ...json, authorization: operator }, body: JSON.stringify({ query: UPDATE_MEMBER, variables: { id: memberId, m: months } }) }
}
