/**
 * The generated access matrix (issue 8, "deny by default"): random region trees drawn
 * from the seeded regions of 三门峡市, random users (role × level × relation of their
 * region to the target) and every operation, on GraphQL and REST alike. The expected
 * outcome comes from contract §3 as transcribed below — never from src/shared/policy.ts.
 *
 * Used by test/policy-matrix-reads.test.ts and test/policy-matrix-writes.test.ts.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { queryRows } from '../src/db/index.js'
import type { TokenClaims } from '../src/infra/tokens.js'
import { paths } from '../src/paths.js'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { buildApp, token, uniqueSub, type Client, type GqlResult, type TestApp } from './helper.js'

// ── Contract §3, transcribed as the oracle ───────────────────────────────────

const ROLES = ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR', 'EXCHANGE'] as const
const DEPTS = ['civil_affairs', 'health', 'education', 'disability', 'hr', 'public_security', 'finance'] as const
type Role = typeof ROLES[number]
type Dept = typeof DEPTS[number]

/** One row of the §3 table: who may, from which level (longest region code) and, for EXCHANGE, which departments. */
interface Need { roles: readonly Role[], maxCodeLength?: number, depts?: readonly Dept[] }
const ALL_ROLES: readonly Role[] = ROLES
const READERS: readonly Role[] = ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR']
const NEED = {
  public: { roles: ALL_ROLES },
  readRecords: { roles: READERS },
  writeRecords: { roles: ['OPERATOR', 'ADMIN'] },
  proposeExit: { roles: ['OPERATOR', 'REVIEWER', 'ADMIN'] },
  verifyExit: { roles: ['REVIEWER', 'ADMIN'], maxCodeLength: 9 },
  approveExit: { roles: ['REVIEWER', 'ADMIN'], maxCodeLength: 6 },
  /** Not in the contract's table: the project gives a county's exit (摘帽) to the city (README). */
  exitCounty: { roles: ['REVIEWER', 'ADMIN'], maxCodeLength: 4 },
  readStatistics: { roles: READERS },
  /** Contract §10: the public disclosure (公告公示), any reader role in area. */
  readDisclosures: { roles: READERS },
  readAudit: { roles: ['ADMIN', 'AUDITOR'] },
  /** Contract §9: the log's export, at city level or above. */
  exportAudit: { roles: ['ADMIN', 'AUDITOR'], maxCodeLength: 4 },
  editReference: { roles: ['ADMIN'], maxCodeLength: 4 },
  eligibility: { roles: ['ADMIN', 'EXCHANGE'], depts: ['health', 'civil_affairs'] },
  /** Contract §10: VIEWER and AUDITOR read (and the writers); OPERATOR and ADMIN create, link, allocate and pay; REVIEWER and ADMIN at county level approve. */
  readProjects: { roles: READERS },
  writeProjects: { roles: ['OPERATOR', 'ADMIN'] },
  approveProject: { roles: ['REVIEWER', 'ADMIN'], maxCodeLength: 6 }
} satisfies Record<string, Need>
/** Contract §8: the departments of each exchange kind. */
const KIND_DEPTS: Record<string, readonly Dept[]> = {
  'civil_affairs.dibao': ['civil_affairs'],
  'civil_affairs.deaths': ['civil_affairs', 'public_security'],
  'health.insurance': ['health'],
  'education.enrollment': ['education'],
  'disability.certificates': ['disability'],
  'hr.employment': ['hr'],
  // Contract §10 item 6 (issue 20): the finance department's disbursement file.
  'finance.payments': ['finance']
}
const KINDS = Object.keys(KIND_DEPTS)
const exchange = (kind: string): Need => ({ roles: ['ADMIN', 'EXCHANGE'], depts: KIND_DEPTS[kind] })

interface User { role: Role, region: string, dept: Dept }

function allows (need: Need, u: User): boolean {
  if (!need.roles.includes(u.role)) return false
  if (need.maxCodeLength !== undefined && u.region.length > need.maxCodeLength) return false
  if (u.role === 'EXCHANGE' && need.depts !== undefined && !need.depts.includes(u.dept)) return false
  return true
}

/** A record is in area when its region code starts with the user's (contract §3). */
const inArea = (u: User, region: string): boolean => region.startsWith(u.region)

// ── Region trees ──────────────────────────────────────────────────────────────

const CODES = readFileSync(join(paths.seed, 'regions-4112.tsv'), 'utf8').split('\n')
  .filter(l => l !== '' && !l.startsWith('#')).map(l => l.split('\t')[0]!)
const childrenOf = (code: string): string[] => CODES.filter(c => c.length === (code.length === 6 ? 9 : code.length === 9 ? 12 : 6) && c.startsWith(code))

/** A random piece of the city: a village with a sibling, another township of its county, another county. */
interface Tree {
  county: string, township: string, village: string, sibling: string
  otherTownship: string, otherTownshipVillage: string
  otherCounty: string, otherCountyTownship: string, otherCountyVillage: string
  /** Every region a user may sit at in this tree (province and city included). */
  codes: string[]
}
const pickOne = (xs: string[]): fc.Arbitrary<string> => fc.constantFrom(...xs)
const treeArb: fc.Arbitrary<Tree> = pickOne(childrenOf('4112').filter(c => childrenOf(c).length >= 2)).chain(county =>
  pickOne(childrenOf(county).filter(t => childrenOf(t).length >= 2)).chain(township =>
    fc.tuple(
      fc.shuffledSubarray(childrenOf(township), { minLength: 2, maxLength: 2 }),
      pickOne(childrenOf(county).filter(t => t !== township && childrenOf(t).length > 0)),
      pickOne(childrenOf('4112').filter(c => c !== county && childrenOf(c).some(t => childrenOf(t).length > 0)))
    ).chain(([[village, sibling], otherTownship, otherCounty]) =>
      fc.tuple(pickOne(childrenOf(otherTownship)), pickOne(childrenOf(otherCounty).filter(t => childrenOf(t).length > 0))).chain(([otherTownshipVillage, otherCountyTownship]) =>
        pickOne(childrenOf(otherCountyTownship)).map((otherCountyVillage): Tree => ({
          county, township, village: village!, sibling: sibling!, otherTownship, otherTownshipVillage, otherCounty, otherCountyTownship, otherCountyVillage,
          codes: ['41', '4112', county, township, village!, sibling!, otherTownship, otherTownshipVillage, otherCounty, otherCountyTownship, otherCountyVillage]
        }))))))

type Relation = 'same' | 'parent' | 'child' | 'sibling' | 'other-township' | 'other-county'

/** How a user's region relates to the target's region. */
function relationOf (user: string, target: string): Relation {
  if (user === target) return 'same'
  if (target.startsWith(user)) return 'parent'
  if (user.startsWith(target)) return 'child'
  const parentLength = { 4: 2, 6: 4, 9: 6, 12: 9 }[target.length] ?? 0
  if (user.length === target.length && user.slice(0, parentLength) === target.slice(0, parentLength)) return 'sibling'
  return user.slice(0, 6) === target.slice(0, 6) ? 'other-township' : 'other-county'
}

// ── Fixtures: records of each tree, built once ──────────────────────────────

interface Fixture {
  tree: Tree
  /** A household with members, a measure and an income; its head's name is unique. */
  h: { id: string, head: string, nationalIds: string[], memberId: string, removableMemberId: string, measureId: string }
  /** Exit-ready, no review (for proposeExit). */
  ready: string
  closable: string
  proposed: string
  /** Under public notice; its household's head name is unique (exit notices). */
  verified: { id: string, head: string }
  /** EXITED, whose latest income fails the line (an exit warning). */
  exited: string
  /** Work items of the dibao comparison: one at the village, one at the county (the job's region). */
  workItemVillage: string
  workItemCounty: string
  /** civil_affairs.dibao, submitted at the county; civil_affairs.deaths, submitted at the township. */
  dibaoJob: string
  deathsJob: string
  /** The seq before the household's creation in the change feed. */
  feedAfter: string
  /** A project in the village, APPROVED, with the household as beneficiary, funds and a payment to an account; and a PLANNED one. */
  project: string
  plannedProject: string
  /** People sent in the village: its serving work team (replaced when an allowed user ends it) and a member; a helper kept at the village, assigned to the household and visited. */
  team: { id: string, memberId: string }
  helper: { id: string, assignmentId: string }
}

const DAY = 86_400_000
/** A running clock that starts in 2019 and can jump (past a public notice). */
function matrixClock (): { fn: () => Date, offset: number } {
  const start = Date.now()
  const c = { offset: 0, fn: () => new Date(Date.parse('2019-11-01T01:30:00Z') + (Date.now() - start) + c.offset) }
  return c
}

interface Matrix {
  app: TestApp
  clock: ReturnType<typeof matrixClock>
  admin: Client
  fixtures: Fixture[]
}

async function ok<T = any> (client: Client, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await client.gql(query, variables)
  if (res.errors !== undefined) throw new Error(`${query}: ${JSON.stringify(res.errors)}`)
  return res.data
}

const uniqueName = (): string => `户${randomUUID().slice(0, 8)}`
const READY = { foodSecure: true, clothingSecure: true, housingSafe: true, drinkingWaterSafe: true }
const INCOME_2019 = { year: 2019, wage: 12000, business: 3000, property: 0, transfer: 1500, expenses: 1500 }

async function household (m: Pick<Matrix, 'admin'>, village: string, head = uniqueName()): Promise<{ id: string, members: Array<{ id: string, nationalId: string }> }> {
  const input = householdInput(village, READY) as { members: Array<Record<string, unknown>> }
  input.members[0]!.name = head
  return (await ok(m.admin, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { id nationalId } } }', { i: input })).createHousehold
}

/** Fresh targets for an allowed mutation (the shared ones stay as they are). */
const fresh = {
  async exitReady (m: Matrix, village: string, head?: string): Promise<string> {
    const { id } = await household(m, village, head)
    await ok(m.admin, 'mutation ($h: ID!, $i: IncomeInput!) { recordIncome(householdId: $h, input: $i) { year } }', { h: id, i: INCOME_2019 })
    return id
  },
  async proposed (m: Matrix, village: string, head?: string): Promise<string> {
    const h = await fresh.exitReady(m, village, head)
    return (await ok(m.admin, 'mutation ($h: ID!) { proposeExit(householdId: $h, year: 2019) { id } }', { h })).proposeExit.id
  },
  async verified (m: Matrix, village: string, head?: string): Promise<string> {
    const r = await fresh.proposed(m, village, head)
    await ok(m.admin, 'mutation ($r: ID!) { verifyExit(reviewId: $r) { id } }', { r })
    return r
  },
  async exited (m: Matrix, village: string): Promise<string> {
    const r = await fresh.verified(m, village)
    return await afterNotice(m, async () => (await ok(m.admin, 'mutation ($r: ID!) { approveExit(reviewId: $r) { household { id } } }', { r })).approveExit.household.id)
  },
  async household (m: Matrix, village: string): Promise<string> {
    return (await household(m, village)).id
  },
  async project (m: Matrix, region: string): Promise<string> {
    return (await ok(m.admin, 'mutation ($i: ProjectInput!) { createProject(input: $i) { id } }', { i: projectInput(region) })).createProject.id
  },
  /** Ends the village's serving team, if any, and sends a new one with a first secretary (phone 13712345678). */
  async team (m: Pick<Matrix, 'admin' | 'app'>, village: string): Promise<{ id: string, memberId: string }> {
    const [serving] = await queryRows<{ id: string, version: number }>(m.app.database.db, sql`SELECT id, version FROM work_teams WHERE region_code = ${village} AND ended_on IS NULL`)
    if (serving !== undefined) await ok(m.admin, 'mutation ($id: ID!, $v: Int!) { endWorkTeam(id: $id, expectedVersion: $v) { id } }', { id: serving.id, v: serving.version })
    const team = (await ok(m.admin, 'mutation ($c: String!) { createWorkTeam(input: { regionCode: $c, sendingUnit: "县农业农村局", startedOn: "2018-03-01", members: [{ name: "赵书记", phone: "13712345678", role: FIRST_SECRETARY }] }) { id members { id } } }', { c: village })).createWorkTeam
    return { id: team.id, memberId: team.members[0].id }
  },
  async member (m: Matrix, householdId: string): Promise<string> {
    return (await ok(m.admin, 'mutation ($h: ID!, $i: MemberInput!) { addMember(householdId: $h, input: $i) { id } }', { h: householdId, i: memberInput({ relation: 'CHILD' }) })).addMember.id
  }
}

const projectInput = (region: string): Record<string, unknown> => ({ regionCode: region, name: '香菇种植基地', category: 'INDUSTRY', plannedStart: '2019-03-01', budget: 1_000_000 })
/** The account of the fixture's payment. */
const PAY_ACCOUNT = '6217002430012345678'

/** Submits an import job and waits until it has succeeded. */
async function submitJob (app: TestApp, claims: TokenClaims, kind: string, rows: unknown[]): Promise<string> {
  const res = await app.app.inject({
    method: 'POST',
    url: `/api/v1/exchange/jobs?kind=${kind}`,
    headers: { authorization: `Bearer ${await token(claims)}`, 'content-type': 'application/x-ndjson' },
    payload: rows.map(r => JSON.stringify(r)).join('\n') + '\n'
  })
  if (res.statusCode !== 202) throw new Error(res.body)
  const id = res.json().id as string
  const client = app.as(claims)
  for (let i = 0; i < 800; i++) {
    const job = (await client.get(`/api/v1/exchange/jobs/${id}`)).json()
    if (job.status === 'succeeded') return id
    if (job.status === 'failed') throw new Error(JSON.stringify(job))
    await sleep(25)
  }
  throw new Error('the job did not finish')
}

async function buildFixture (m: Matrix, tree: Tree): Promise<Fixture> {
  const { admin } = m
  const v = tree.village
  // Regions the exit mutations target are not poor, so an allowed exitVillage / exitCounty is refused for that (CONFLICT), not applied.
  for (const code of [v, tree.county]) {
    const { region } = await ok(admin, 'query ($c: String!) { region(code: $c) { version } }', { c: code })
    await ok(admin, 'mutation ($c: String!, $v: Int!) { updateRegion(code: $c, expectedVersion: $v, input: { isPoor: false, isDeepPoverty: false }) { code } }', { c: code, v: region.version })
  }
  await m.app.sequenced()
  const [{ seq }] = await queryRows<{ seq: string }>(m.app.database.db, sql`SELECT coalesce(max(seq), 0)::text AS seq FROM audit_log`) as [{ seq: string }]
  const head = uniqueName()
  const h = await household(m, v, head)
  await ok(admin, 'mutation ($h: ID!, $i: IncomeInput!) { recordIncome(householdId: $h, input: $i) { year } }', { h: h.id, i: INCOME_2019 })
  const measureId = (await ok(admin, 'mutation ($h: ID!) { addMeasure(householdId: $h, input: { category: INDUSTRY, kind: "solar", startDate: "2019-03-01" }) { id } }', { h: h.id })).addMeasure.id
  const removableMemberId = await fresh.member(m, h.id)
  const exited = await fresh.exited(m, v)
  await ok(admin, 'mutation ($h: ID!) { recordIncome(householdId: $h, input: { year: 2019, wage: 100, business: 0, property: 0, transfer: 0, expenses: 0 }) { year } }', { h: exited })
  const verifiedHead = uniqueName()
  const fixture = {
    tree,
    h: { id: h.id, head, nationalIds: h.members.map(x => x.nationalId), memberId: h.members[1]!.id, removableMemberId, measureId },
    ready: await fresh.exitReady(m, v),
    closable: await fresh.household(m, v),
    proposed: await fresh.proposed(m, v),
    verified: { id: await fresh.verified(m, v, verifiedHead), head: verifiedHead },
    exited,
    feedAfter: seq,
    project: await fresh.project(m, v),
    plannedProject: await fresh.project(m, v)
  }
  await ok(admin, 'mutation ($id: ID!) { approveProject(id: $id) { id } }', { id: fixture.project })
  await ok(admin, 'mutation ($p: ID!, $h: [ID!]!) { linkBeneficiaries(projectId: $p, householdIds: $h) { id } }', { p: fixture.project, h: [h.id] })
  await ok(admin, 'mutation ($p: ID!) { allocateFunds(projectId: $p, input: { source: CENTRAL, amount: 900000, documentNo: "豫财农〔2019〕12号", date: "2019-03-10" }) { id } }', { p: fixture.project })
  await ok(admin, 'mutation ($p: ID!, $h: ID!, $a: String) { recordPayment(projectId: $p, input: { householdId: $h, amount: 2000, date: "2019-06-01", account: $a }) { id } }', { p: fixture.project, h: h.id, a: PAY_ACCOUNT })
  // The dibao comparison: the household's head is on the roster (its attribute is not DIBAO: a village work item),
  // a stranger is not registered (a work item at the submitter's region, the county).
  const dibaoJob = await submitJob(m.app, { sub: uniqueSub('mz'), role: 'EXCHANGE', dept: 'civil_affairs', region: tree.county }, 'civil_affairs.dibao', [
    { national_id: h.members[0]!.nationalId, name: head, status: 'active', start_date: '2018-03-01', monthly_amount: 260 },
    { national_id: nationalId('1959-09-09', 'FEMALE'), name: '冯桂英', status: 'active', start_date: '2018-05-01', monthly_amount: 240 }
  ])
  const deathsJob = await submitJob(m.app, { sub: uniqueSub('ga'), role: 'EXCHANGE', dept: 'public_security', region: tree.township }, 'civil_affairs.deaths', [
    { national_id: nationalId('1940-01-01', 'MALE'), name: '陈某', date_of_death: '2019-01-01' }
  ])
  const items = await queryRows<{ id: string, region_code: string, finding: string }>(m.app.database.db, sql`SELECT id, region_code, finding FROM work_items WHERE job_id = ${dibaoJob}`)
  const item = (finding: string, region: string): string => {
    const found = items.find(i => i.finding === finding && i.region_code === region)
    if (found === undefined) throw new Error(`no ${finding} work item in ${region}: ${JSON.stringify(items)}`)
    return found.id
  }
  const helperId = (await ok(admin, 'mutation ($c: String!) { createHelper(input: { regionCode: $c, name: "周帮扶", unit: "县财政局", phone: "13911112222" }) { id } }', { c: v })).createHelper.id
  await ok(admin, 'mutation ($id: ID!) { updateHousehold(id: $id, expectedVersion: 1, input: { helper: null }) { id } }', { id: h.id })
  const assignmentId = (await ok(admin, 'mutation ($h: ID!, $p: ID!) { assignHelper(householdId: $h, helperId: $p, startedOn: "2019-01-01") { id } }', { h: h.id, p: helperId })).assignHelper.id
  await ok(admin, 'mutation ($i: VisitInput!) { recordVisit(input: $i) { id } }', { i: { householdId: h.id, helperId, visitedOn: '2019-03-01', note: '入户走访' } })
  return { ...fixture, workItemVillage: item('DIBAO_ATTRIBUTE_MISMATCH', v), workItemCounty: item('DIBAO_NOT_REGISTERED', tree.county), dibaoJob, deathsJob, team: await fresh.team(m, v), helper: { id: helperId, assignmentId } }
}

export async function setupMatrix (t: { teardown: (fn: () => unknown) => void }, seed: number, trees = 2): Promise<Matrix> {
  const clock = matrixClock()
  const app = await buildApp(t, { clock: clock.fn })
  const m: Matrix = { app, clock, admin: app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' }), fixtures: [] }
  for (const tree of fc.sample(treeArb, { seed, numRuns: trees })) m.fixtures.push(await buildFixture(m, tree))
  // Readers of the audit log and the change feed see sequenced entries only.
  await app.sequenced()
  return m
}

/** What a refused request must leave as it was: counts and version sums of every table a request could write. */
async function snapshot (m: Matrix): Promise<string> {
  const rows = await queryRows(m.app.database.db, sql`SELECT
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM households) AS households,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM members) AS members,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM incomes) AS incomes,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM measures) AS measures,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM exit_reviews) AS exit_reviews,
    (SELECT count(*) FROM exit_review_steps) AS exit_review_steps,
    (SELECT count(*) FROM household_status_changes) AS status_changes,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM work_items) AS work_items,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM regions) AS regions,
    (SELECT count(*) || ':' || coalesce(sum(amount), 0) FROM poverty_lines) AS poverty_lines,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM plan_targets) AS plan_targets,
    (SELECT count(*) FROM exchange_jobs) || ':' || (SELECT count(*) FROM exchange_job_chunks) AS jobs,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) || ':' || coalesce(sum(allocated), 0) || ':' || coalesce(sum(paid), 0) FROM projects) AS projects,
    (SELECT count(*) FROM project_beneficiaries) || ':' || (SELECT count(*) FROM fund_allocations) || ':' || (SELECT count(*) FROM fund_payments) AS funds,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM work_teams) AS work_teams,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM work_team_members) AS work_team_members,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM helpers) AS helpers,
    (SELECT count(*) || ':' || coalesce(sum(version), 0) FROM helper_assignments) AS helper_assignments,
    (SELECT count(*) FROM visits) AS visits,
    (SELECT count(*) || ':' || coalesce(max(id), 0) FROM audit_events) AS audit`)
  return JSON.stringify(rows[0])
}

// ── Operations ────────────────────────────────────────────────────────────────

/**
 * One generated case: an operation asked from one region of a tree (`position` indexes
 * the tree's codes) by every role; `dept` is the EXCHANGE user's, `filter` (an index into
 * the tree's codes) a list's region filter, `kind` the import kind submitted.
 */
interface Case { tree: number, op: string, position: number, dept: Dept, filter: number | null, kind: string }

/** What came back, normalised: the error code (or OK), and where relevant whether the target showed and whether it was masked. */
interface Outcome { code: string, present?: boolean[], masked?: boolean | 'inconsistent' }

interface Scope {
  /** The region the relation is drawn against. */
  region: string
  /** id: out of area is NOT_FOUND; region: out of area is FORBIDDEN; list: out of area is absent; none: no area. */
  area: 'id' | 'region' | 'list' | 'none'
  /** A list's region filter. */
  filter?: string
}

interface RunArgs { m: Matrix, f: Fixture, c: Case, client: Client, claims: TokenClaims, scope: Scope, allowed: boolean }

interface Op {
  name: string
  need: (c: Case) => Need
  scope: (f: Fixture, c: Case) => Scope
  /** Checked after the area, for a second rule that depends on the record's state. */
  needAfter?: Need
  /** By id: also NOT_FOUND when this says the user may not see it (another department's job). */
  visible?: (u: User) => boolean
  /** Lists: the regions of the records whose presence is checked. */
  records?: (f: Fixture) => string[]
  /** Personal data that VIEWER sees masked. */
  personal?: boolean
  /** What an allowed call answers, when not OK: a refusal for a reason that is not the policy (asserted in run). */
  allowedCode?: string
  run: (a: RunArgs) => Promise<Outcome>
}

const gqlCode = (res: GqlResult<unknown>): string => res.errors?.[0]?.extensions.code ?? 'OK'
function httpCode (res: LightMyRequestResponse): string {
  if (res.statusCode < 300) return 'OK'
  const codes: Record<number, string> = { 400: 'BAD_USER_INPUT', 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT', 422: 'BAD_USER_INPUT' }
  return codes[res.statusCode] ?? `HTTP ${res.statusCode}`
}

const MASKED_ID = /^\d{6}\*{8}\d{3}[\dX]$/
/** The phone and bank account every fixture household has (test/fixtures.ts). */
const { phone: PHONE, bankAccount: BANK_ACCOUNT } = householdInput('') as { phone: string, bankAccount: string }
/**
 * true: every national ID, the phone and the bank account masked as §3 says, and every birth
 * date its year only (the masked ID hides exactly the birth date); false: all of them in the
 * clear (the household's own IDs among them); anything else is inconsistent.
 */
function maskState (f: Fixture, h: { members: Array<{ nationalId: string, birthDate: string }>, phone?: string | null, bankAccount?: string | null }): boolean | 'inconsistent' {
  const ids = h.members.map(x => x.nationalId)
  const births = h.members.map(x => x.birthDate)
  if (ids.length === 0) return 'inconsistent'
  const whole = (h.phone === undefined || (h.phone === PHONE && h.bankAccount === BANK_ACCOUNT)) && births.every(b => /^\d{4}-\d{2}-\d{2}$/.test(b))
  const masked = (h.phone === undefined || (h.phone === `${PHONE.slice(0, 3)}****${PHONE.slice(-4)}` && new RegExp(`^\\D*${BANK_ACCOUNT.slice(-4)}$`).test(h.bankAccount ?? ''))) && births.every(b => /^\d{4}$/.test(b))
  if (ids.every(id => MASKED_ID.test(id)) && masked) return true
  if (ids.every(id => /^\d{17}[\dX]$/.test(id)) && ids.some(id => f.h.nationalIds.includes(id)) && whole) return false
  return 'inconsistent'
}

/** true: the fixture's payment account shows its last 4 digits only; false: in the clear. */
function accountMasked (account: string | null): boolean | 'inconsistent' {
  if (account === PAY_ACCOUNT) return false
  return account === '*'.repeat(PAY_ACCOUNT.length - 4) + PAY_ACCOUNT.slice(-4) ? true : 'inconsistent'
}

/** The phones of the fixtures' first secretaries and helpers. */
const TEAM_PHONE = '13712345678'
const HELPER_PHONE = '13911112222'
/** true: masked as §3 says; false: in the clear; else inconsistent. */
const phoneMask = (got: string | null | undefined, phone: string): boolean | 'inconsistent' =>
  got === `${phone.slice(0, 3)}****${phone.slice(-4)}` ? true : got === phone ? false : 'inconsistent'

const byId = (region: (f: Fixture) => string) => (f: Fixture): Scope => ({ region: region(f), area: 'id' })
const inRegion = (region: (f: Fixture) => string) => (f: Fixture): Scope => ({ region: region(f), area: 'region' })
const noArea = (f: Fixture): Scope => ({ region: f.tree.village, area: 'none' })
const village = (f: Fixture): string => f.tree.village
/** A list: unfiltered (the first record's region), or filtered by one of the tree's regions. */
const listScope = (records: (f: Fixture) => string[]) => (f: Fixture, c: Case): Scope => {
  if (c.filter === null) return { region: records(f)[0]!, area: 'list' }
  const filter = f.tree.codes[c.filter % f.tree.codes.length]!
  return { region: filter, area: 'region', filter }
}
const always = (need: Need) => () => need
const qs = (params: Record<string, string | undefined>): string => {
  const s = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined)).toString()
  return s === '' ? '' : `?${s}`
}

const HOUSEHOLD_Q = 'query ($id: ID!) { household(id: $id) { id phone bankAccount members { nationalId birthDate } measures { id } incomes { year } exitReviews { id } } }'

export const READ_OPS: Op[] = [
  {
    name: 'gql household(id) with members, measures, incomes, exitReviews',
    need: always(NEED.readRecords), scope: byId(village), personal: true,
    async run ({ f, client }) {
      const res = await client.gql(HOUSEHOLD_Q, { id: f.h.id })
      const h = res.data?.household
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      if (h.id !== f.h.id || h.measures.length === 0 || h.incomes.length === 0) return { code: 'nested fields missing' }
      return { code: 'OK', masked: maskState(f, h) }
    }
  },
  {
    name: 'REST GET /households/{id}',
    need: always(NEED.readRecords), scope: byId(village), personal: true,
    async run ({ f, client }) {
      const res = await client.get(`/api/v1/households/${f.h.id}`)
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      const h = res.json()
      if (h.measures.length === 0 || h.incomes.length === 0) return { code: 'nested fields missing' }
      return { code: 'OK', masked: maskState(f, h) }
    }
  },
  {
    name: 'gql households(filter) with totalCount and members',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village], personal: true,
    async run ({ f, client, scope }) {
      const res = await client.gql('query ($f: HouseholdFilter) { households(filter: $f, first: 5) { totalCount edges { node { id phone bankAccount members { nationalId birthDate } } } } }',
        { f: { nameContains: f.h.head, ...(scope.filter !== undefined ? { regionCode: scope.filter } : {}) } })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      const { totalCount, edges } = res.data.households
      if (totalCount !== edges.length) return { code: `totalCount ${totalCount} but ${edges.length} edges` }
      const node = edges.find((e: any) => e.node.id === f.h.id)?.node
      return { code: 'OK', present: [node !== undefined], ...(node !== undefined ? { masked: maskState(f, node) } : {}) }
    }
  },
  {
    name: 'REST GET /households?region= (every page)',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village], personal: true,
    async run ({ f, client, scope }) {
      let cursor: string | undefined
      for (let page = 0; page < 20; page++) {
        const res = await client.get(`/api/v1/households${qs({ region: scope.filter, limit: '200', cursor })}`)
        if (httpCode(res) !== 'OK') return { code: httpCode(res) }
        const body = res.json()
        const h = body.items.find((x: any) => x.id === f.h.id)
        if (h !== undefined) return { code: 'OK', present: [true], masked: maskState(f, h) }
        if (body.nextCursor === null) return { code: 'OK', present: [false] }
        cursor = body.nextCursor
      }
      return { code: 'too many pages' }
    }
  },
  {
    name: 'REST GET /households/export?region=',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village], personal: true,
    async run ({ f, client, scope }) {
      const res = await client.get(`/api/v1/households/export${qs({ region: scope.filter })}`)
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      const h = res.body.split('\n').filter(l => l !== '').map(l => JSON.parse(l)).find((x: any) => x.id === f.h.id)
      return { code: 'OK', present: [h !== undefined], ...(h !== undefined ? { masked: maskState(f, h) } : {}) }
    }
  },
  {
    name: 'REST GET /changes (the change feed)',
    need: always(NEED.readRecords), scope: f => ({ region: f.tree.village, area: 'list' }), records: f => [f.tree.village],
    async run ({ f, client }) {
      const res = await client.get(`/api/v1/changes?after=${f.feedAfter}&limit=1000`)
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      return { code: 'OK', present: [res.json().items.some((i: any) => i.id === f.h.id)] }
    }
  },
  {
    name: 'gql memberByNationalId',
    need: always(NEED.readRecords), scope: byId(village), personal: true,
    async run ({ f, client }) {
      const res = await client.gql('query ($n: String!) { memberByNationalId(nationalId: $n) { nationalId birthDate household { id } } }', { n: f.h.nationalIds[2] })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      return { code: 'OK', masked: maskState(f, { members: [res.data.memberByNationalId] }) }
    }
  },
  {
    name: 'gql exitCriteria',
    need: always(NEED.readRecords), scope: byId(village),
    async run ({ f, client }) {
      const res = await client.gql('query ($h: ID!) { exitCriteria(householdId: $h, year: 2019) { criterion passed } }', { h: f.h.id })
      return { code: gqlCode(res) === 'OK' && res.data.exitCriteria.length !== 7 ? 'criteria missing' : gqlCode(res) }
    }
  },
  {
    name: 'gql exitReview(id) with its household',
    need: always(NEED.readRecords), scope: byId(village),
    async run ({ f, client }) {
      const res = await client.gql('query ($id: ID!) { exitReview(id: $id) { id status household { id } } }', { id: f.verified.id })
      return { code: gqlCode(res) === 'OK' && res.data.exitReview.status !== 'VERIFIED' ? 'wrong review' : gqlCode(res) }
    }
  },
  {
    name: 'gql exitReviews(filter) with totalCount',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      const res = await client.gql('query ($f: ExitReviewFilter) { exitReviews(filter: $f, first: 200) { totalCount edges { node { id } } } }',
        { f: { status: 'VERIFIED', ...(scope.filter !== undefined ? { regionCode: scope.filter } : {}) } })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      const { totalCount, edges } = res.data.exitReviews
      if (totalCount < edges.length) return { code: `totalCount ${totalCount} below ${edges.length} edges` }
      return { code: 'OK', present: [edges.some((e: any) => e.node.id === f.verified.id)] }
    }
  },
  {
    name: 'gql exitNotices(regionCode)',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      const res = await client.gql('query ($r: String) { exitNotices(regionCode: $r) { villageCode headName } }', { r: scope.filter })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      return { code: 'OK', present: [res.data.exitNotices.some((n: any) => n.headName === f.verified.head)] }
    }
  },
  {
    name: 'REST GET /exit-notices?region=',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      const res = await client.get(`/api/v1/exit-notices${qs({ region: scope.filter })}`)
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      return { code: 'OK', present: [JSON.stringify(res.json()).includes(f.verified.head)] }
    }
  },
  {
    name: 'gql exitWarnings(regionCode)',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      let after: string | null = null
      for (let page = 0; page < 20; page++) {
        const res: GqlResult<any> = await client.gql('query ($r: String, $a: String) { exitWarnings(regionCode: $r, first: 200, after: $a) { edges { node { household { id } } } pageInfo { hasNextPage endCursor } } }', { r: scope.filter, a: after })
        if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
        if (res.data.exitWarnings.edges.some((e: any) => e.node.household.id === f.exited)) return { code: 'OK', present: [true] }
        if (!res.data.exitWarnings.pageInfo.hasNextPage) return { code: 'OK', present: [false] }
        after = res.data.exitWarnings.pageInfo.endCursor
      }
      return { code: 'too many pages' }
    }
  },
  {
    name: 'gql workItems(filter) with totalCount: a county item and a village item',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.county, f.tree.village]), records: f => [f.tree.county, f.tree.village],
    async run ({ f, client, scope }) {
      const res = await client.gql('query ($f: WorkItemFilter) { workItems(filter: $f, first: 200) { totalCount edges { node { id } } } }',
        { f: { jobId: f.dibaoJob, ...(scope.filter !== undefined ? { regionCode: scope.filter } : {}) } })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      const { totalCount, edges } = res.data.workItems
      if (totalCount !== edges.length) return { code: `totalCount ${totalCount} but ${edges.length} edges` }
      const ids = new Set(edges.map((e: any) => e.node.id))
      return { code: 'OK', present: [ids.has(f.workItemCounty), ids.has(f.workItemVillage)] }
    }
  },
  {
    name: 'gql project(id) with its beneficiaries, allocations and payments',
    need: always(NEED.readProjects), scope: byId(village), personal: true,
    async run ({ f, client }) {
      const res = await client.gql('query ($id: ID!) { project(id: $id) { id region { code } beneficiaries { id } allocations { amount } payments { account household { id } } } }', { id: f.project })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      const p = res.data.project
      if (p.beneficiaries.length !== 1 || p.allocations.length !== 1 || p.payments.length !== 1) return { code: 'nested fields missing' }
      return { code: 'OK', masked: accountMasked(p.payments[0].account) }
    }
  },
  {
    name: 'REST GET /projects/{id}',
    need: always(NEED.readProjects), scope: byId(village), personal: true,
    async run ({ f, client }) {
      const res = await client.get(`/api/v1/projects/${f.project}`)
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      return { code: 'OK', masked: accountMasked(res.json().payments[0].account) }
    }
  },
  {
    name: 'gql projects(filter) with totalCount',
    need: always(NEED.readProjects), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      const res = await client.gql('query ($f: ProjectFilter) { projects(filter: $f, first: 200) { totalCount edges { node { id } } } }',
        { f: { status: 'APPROVED', ...(scope.filter !== undefined ? { regionCode: scope.filter } : {}) } })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      const { totalCount, edges } = res.data.projects
      if (totalCount < edges.length) return { code: `totalCount ${totalCount} below ${edges.length} edges` }
      return { code: 'OK', present: [edges.some((e: any) => e.node.id === f.project)] }
    }
  },
  {
    name: 'REST GET /projects?region= (every page)',
    need: always(NEED.readProjects), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      let cursor: string | undefined
      for (let page = 0; page < 20; page++) {
        const res = await client.get(`/api/v1/projects${qs({ region: scope.filter, status: 'APPROVED', limit: '200', cursor })}`)
        if (httpCode(res) !== 'OK') return { code: httpCode(res) }
        const body = res.json()
        if (body.items.some((x: any) => x.id === f.project)) return { code: 'OK', present: [true] }
        if (body.nextCursor === null) return { code: 'OK', present: [false] }
        cursor = body.nextCursor
      }
      return { code: 'too many pages' }
    }
  },
  {
    name: 'gql fundStatistics(regionCode) of the village',
    need: always(NEED.readStatistics), scope: inRegion(village),
    async run ({ f, client }) {
      const res = await client.gql('query ($r: String!) { fundStatistics(regionCode: $r, year: 2019) { allocated paid projects { total } } }', { r: f.tree.village })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      return { code: res.data.fundStatistics.paid >= 2000 && res.data.fundStatistics.projects.total >= 2 ? 'OK' : `figures ${JSON.stringify(res.data)}` }
    }
  },
  {
    name: 'REST GET /statistics/{village}/funds',
    need: always(NEED.readStatistics), scope: inRegion(village),
    async run ({ f, client }) {
      const res = await client.get(`/api/v1/statistics/${f.tree.village}/funds?year=2019`)
      return { code: httpCode(res) === 'OK' && res.json().paid < 2000 ? 'figures missing' : httpCode(res) }
    }
  },
  {
    name: 'gql workTeam(id) with members and first secretary',
    need: always(NEED.readRecords), scope: byId(village), personal: true,
    async run ({ f, client }) {
      const res = await client.gql('query ($id: ID!) { workTeam(id: $id) { id firstSecretary { phone } members { phone } } }', { id: f.team.id })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      return { code: 'OK', masked: phoneMask(res.data.workTeam.firstSecretary.phone, TEAM_PHONE) }
    }
  },
  {
    name: 'REST GET /work-teams/{id}',
    need: always(NEED.readRecords), scope: byId(village), personal: true,
    async run ({ f, client }) {
      const res = await client.get(`/api/v1/work-teams/${f.team.id}`)
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      return { code: 'OK', masked: phoneMask(res.json().members[0].phone, TEAM_PHONE) }
    }
  },
  {
    name: 'gql workTeams(filter) with totalCount',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      const res = await client.gql('query ($f: WorkTeamFilter) { workTeams(filter: $f, first: 200) { totalCount edges { node { id } } } }', { f: { serving: true, ...(scope.filter !== undefined ? { regionCode: scope.filter } : {}) } })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      const { totalCount, edges } = res.data.workTeams
      if (totalCount < edges.length) return { code: `totalCount ${totalCount} below ${edges.length} edges` }
      return { code: 'OK', present: [edges.some((e: any) => e.node.id === f.team.id)] }
    }
  },
  {
    name: 'REST GET /work-teams?region=',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      const res = await client.get(`/api/v1/work-teams${qs({ region: scope.filter, serving: 'true', limit: '200' })}`)
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      return { code: 'OK', present: [res.json().items.some((i: any) => i.id === f.team.id)] }
    }
  },
  {
    name: 'gql helper(id) with assignments and visits, and the household\'s current helper',
    need: always(NEED.readRecords), scope: byId(village), personal: true,
    async run ({ f, client }) {
      const res = await client.gql('query ($id: ID!, $h: ID!) { helper(id: $id) { phone assignments { id } visits { id } } household(id: $h) { helper { phone } } }', { id: f.helper.id, h: f.h.id })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      if (res.data.helper.assignments.length === 0 || res.data.helper.visits.length === 0) return { code: 'nested fields missing' }
      const a = phoneMask(res.data.helper.phone, HELPER_PHONE)
      return { code: 'OK', masked: a === phoneMask(res.data.household.helper.phone, HELPER_PHONE) ? a : 'inconsistent' }
    }
  },
  {
    name: 'gql helpers(filter) with totalCount',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      const res = await client.gql('query ($f: HelperFilter) { helpers(filter: $f, first: 200) { totalCount edges { node { id } } } }', { f: { nameContains: '周帮扶', ...(scope.filter !== undefined ? { regionCode: scope.filter } : {}) } })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      return { code: 'OK', present: [res.data.helpers.edges.some((e: any) => e.node.id === f.helper.id)] }
    }
  },
  {
    name: 'gql unvisitedHouseholds and REST GET /households/unvisited (the household last visited in March)',
    need: always(NEED.readRecords), scope: listScope(f => [f.tree.village]), records: f => [f.tree.village],
    async run ({ f, client, scope }) {
      const found: boolean[] = []
      for (const kind of ['gql', 'rest']) {
        let after: string | null = null
        for (let page = 0; ; page++) {
          if (page > 50) return { code: 'too many pages' }
          let ids: string[]
          if (kind === 'gql') {
            const res: GqlResult<any> = await client.gql('query ($r: String, $a: String) { unvisitedHouseholds(regionCode: $r, first: 200, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }', { r: scope.filter, a: after })
            if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
            ids = res.data.unvisitedHouseholds.edges.map((e: any) => e.node.id)
            after = res.data.unvisitedHouseholds.pageInfo.hasNextPage ? res.data.unvisitedHouseholds.pageInfo.endCursor : null
          } else {
            const res = await client.get(`/api/v1/households/unvisited${qs({ region: scope.filter, limit: '200', cursor: after ?? undefined })}`)
            if (httpCode(res) !== 'OK') return { code: httpCode(res) }
            ids = res.json().items.map((i: any) => i.id)
            after = res.json().nextCursor
          }
          if (ids.includes(f.h.id)) { found.push(true); break }
          if (after === null) { found.push(false); break }
        }
      }
      return found[0] === found[1] ? { code: 'OK', present: [found[0]!] } : { code: `gql ${String(found[0])}, REST ${String(found[1])}` }
    }
  },
  {
    name: 'gql auditLog(filter entityId) with totalCount',
    need: always(NEED.readAudit), scope: f => ({ region: f.tree.village, area: 'list' }), records: f => [f.tree.village],
    async run ({ f, client }) {
      const res = await client.gql('query ($id: String) { auditLog(filter: { entityId: $id }, first: 50) { totalCount edges { node { entityId } } } }', { id: f.h.id })
      if (gqlCode(res) !== 'OK') return { code: gqlCode(res) }
      const { totalCount, edges } = res.data.auditLog
      if (totalCount !== edges.length) return { code: `totalCount ${totalCount} but ${edges.length} edges` }
      return { code: 'OK', present: [edges.length > 0] }
    }
  },
  {
    name: 'gql verifyAuditChain',
    need: always(NEED.readAudit), scope: noArea,
    async run ({ client }) {
      const res = await client.gql('{ verifyAuditChain { valid checked } }')
      return { code: gqlCode(res) === 'OK' && res.data.verifyAuditChain.valid !== true ? 'chain invalid' : gqlCode(res) }
    }
  },
  {
    name: 'gql auditTreeHead, auditInclusionProof, auditConsistencyProof',
    need: always(NEED.readAudit), scope: noArea,
    async run ({ client }) {
      const codes = [
        gqlCode(await client.gql('{ auditTreeHead { treeSize rootHash signature } }')),
        gqlCode(await client.gql('{ auditInclusionProof(seq: 1) { leafHash path } }')),
        gqlCode(await client.gql('{ auditConsistencyProof(first: 1, second: 2) }'))
      ]
      return { code: codes.every(c => c === codes[0]) ? codes[0]! : codes.join(', ') }
    }
  },
  {
    name: 'REST GET /audit/tree-head, /audit/proofs/inclusion, /audit/proofs/consistency',
    need: always(NEED.readAudit), scope: noArea,
    async run ({ client }) {
      const codes = await Promise.all(['/api/v1/audit/tree-head', '/api/v1/audit/proofs/inclusion?seq=1', '/api/v1/audit/proofs/consistency?first=1&second=2']
        .map(async url => httpCode(await client.get(url))))
      return { code: codes.every(c => c === codes[0]) ? codes[0]! : codes.join(', ') }
    }
  },
  {
    name: 'REST GET /audit/log (entries out of area as hashes only)',
    need: always(NEED.exportAudit), scope: f => ({ region: f.tree.village, area: 'list' }), records: f => [f.tree.village],
    async run ({ f, client }) {
      const res = await client.get('/api/v1/audit/log')
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      const lines = res.body.split('\n').filter(l => l !== '').map(l => JSON.parse(l))
      if (lines.some((l: any, i: number) => l.seq !== i + 1 || typeof l.leafHash !== 'string')) return { code: 'positions or hashes missing' }
      return { code: 'OK', present: [lines.some((l: any) => l.entityId === f.h.id)] }
    }
  },
  {
    name: 'gql statistics(regionCode) with breakdown',
    need: always(NEED.readStatistics), scope: (f, c) => ({ region: f.tree.codes[(c.filter ?? 0) % f.tree.codes.length]!, area: 'region' }),
    async run ({ client, scope }) {
      const res = await client.gql('query ($r: String!) { statistics(regionCode: $r, year: 2019) { region { code } households { total } breakdown { region { code } } } }', { r: scope.region })
      return { code: gqlCode(res) === 'OK' && res.data.statistics.region.code !== scope.region ? 'wrong region' : gqlCode(res) }
    }
  },
  {
    name: 'gql statisticsTrend and planTargets',
    need: always(NEED.readStatistics), scope: (f, c) => ({ region: f.tree.codes[(c.filter ?? 0) % f.tree.codes.length]!, area: 'region' }),
    async run ({ client, scope }) {
      const trend = await client.gql('query ($r: String!) { statisticsTrend(regionCode: $r, years: [2018, 2019]) { year } }', { r: scope.region })
      const targets = await client.gql('query ($r: String!) { planTargets(regionCode: $r, years: [2019]) { year } }', { r: scope.region })
      return { code: gqlCode(trend) === gqlCode(targets) ? gqlCode(trend) : `trend ${gqlCode(trend)}, targets ${gqlCode(targets)}` }
    }
  },
  {
    name: 'REST GET /statistics/{region}, /trend, /breakdown.csv',
    need: always(NEED.readStatistics), scope: (f, c) => ({ region: f.tree.codes[(c.filter ?? 0) % f.tree.codes.length]!, area: 'region' }),
    async run ({ client, scope }) {
      const codes = await Promise.all([
        `/api/v1/statistics/${scope.region}?year=2019`, `/api/v1/statistics/${scope.region}/trend?years=2018,2019`, `/api/v1/statistics/${scope.region}/breakdown.csv?year=2019`
      ].map(async url => httpCode(await client.get(url))))
      return { code: new Set(codes).size === 1 ? codes[0]! : codes.join(',') }
    }
  },
  {
    name: 'REST GET /disclosures/funds (json, csv or html) for a county, township or village',
    need: always(NEED.readDisclosures),
    scope: (f, c) => { const codes = f.tree.codes.filter(x => x.length >= 6); return { region: codes[(c.filter ?? 0) % codes.length]!, area: 'region' } },
    async run ({ c, client, scope }) {
      // One format per case (they share one service call; the formats' own tests are test/disclosures.test.ts).
      const format = (['json', 'csv', 'html'] as const)[c.position % 3]
      const res = await client.get(`/api/v1/disclosures/funds?region=${scope.region}&year=2019&format=${format}`)
      // Refused: nothing of the disclosure in the answer.
      if (httpCode(res) !== 'OK' && res.body.includes('公告公示')) return { code: 'refused with content' }
      return { code: httpCode(res) }
    }
  },
  {
    name: 'gql me, region(code), povertyLines, labels and REST /me, /regions/{code} (public reference data)',
    need: always(NEED.public), scope: (f, c) => ({ region: f.tree.codes[(c.filter ?? 0) % f.tree.codes.length]!, area: 'none' }),
    async run ({ client, scope }) {
      const res = await client.gql('query ($c: String!) { me { sub } region(code: $c) { code } povertyLines { year } labels { value } }', { c: scope.region })
      const me = await client.get('/api/v1/me')
      if (httpCode(me) !== 'OK') return { code: `REST /me ${httpCode(me)}` }
      const rest = await client.get(`/api/v1/regions/${scope.region}`)
      return { code: gqlCode(res) === httpCode(rest) ? gqlCode(res) : `gql ${gqlCode(res)}, REST ${httpCode(rest)}` }
    }
  },
  ...(['', '/errors', '/report'] as const).map((suffix): Op => ({
    name: `REST GET /exchange/jobs/{id}${suffix} (dibao job at the county)`,
    need: always({ roles: ['ADMIN', 'EXCHANGE'] }), scope: byId(f => f.tree.county),
    visible: u => u.role !== 'EXCHANGE' || KIND_DEPTS['civil_affairs.dibao']!.includes(u.dept),
    async run ({ f, client }) { return { code: httpCode(await client.get(`/api/v1/exchange/jobs/${f.dibaoJob}${suffix}`)) } }
  })),
  {
    name: 'REST GET /exchange/jobs/{id} (deaths job at the township)',
    need: always({ roles: ['ADMIN', 'EXCHANGE'] }), scope: byId(f => f.tree.township),
    visible: u => u.role !== 'EXCHANGE' || KIND_DEPTS['civil_affairs.deaths']!.includes(u.dept),
    async run ({ f, client }) { return { code: httpCode(await client.get(`/api/v1/exchange/jobs/${f.deathsJob}`)) } }
  },
  {
    name: 'REST POST /eligibility',
    need: always(NEED.eligibility), scope: f => ({ region: f.tree.village, area: 'list' }), records: f => [f.tree.village],
    async run ({ f, client }) {
      const res = await client.post('/api/v1/eligibility', { nationalIds: [f.h.nationalIds[2]] })
      if (httpCode(res) !== 'OK') return { code: httpCode(res) }
      return { code: 'OK', present: [res.json().results[0].registered === true] }
    }
  }
]

/** GraphQL mutation → Outcome, with the expected non-policy refusal checked by `reason`. */
async function mutate (client: Client, query: string, variables: Record<string, unknown>, reason?: RegExp): Promise<Outcome> {
  const res = await client.gql(query, variables)
  const code = gqlCode(res)
  if (reason !== undefined && code !== 'OK' && code !== 'FORBIDDEN' && code !== 'NOT_FOUND' && !reason.test(res.errors![0]!.message)) return { code: `${code}: ${res.errors![0]!.message}` }
  return { code }
}

async function versionOf (m: Matrix, table: 'households' | 'regions', key: string): Promise<number> {
  const rows = table === 'households'
    ? await queryRows<{ version: number }>(m.app.database.db, sql`SELECT version FROM households WHERE id = ${key}`)
    : await queryRows<{ version: number }>(m.app.database.db, sql`SELECT version FROM regions WHERE code = ${key}`)
  return rows[0]!.version
}

/** Runs `fn` with the clock past every public notice (approval). */
async function afterNotice<T> (m: Matrix, fn: () => Promise<T>): Promise<T> {
  const saved = m.clock.offset
  m.clock.offset += 8 * DAY
  try { return await fn() } finally { m.clock.offset = saved }
}

export const WRITE_OPS: Op[] = [
  {
    name: 'gql createProject (in the village)',
    need: always(NEED.writeProjects), scope: inRegion(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($i: ProjectInput!) { createProject(input: $i) { id } }', { i: projectInput(f.tree.village) })
    }
  },
  {
    name: 'gql createProject at county level (needs a county-level writer)',
    need: always(NEED.writeProjects), scope: inRegion(f => f.tree.county),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($i: ProjectInput!) { createProject(input: $i) { id } }', { i: projectInput(f.tree.county) })
    }
  },
  {
    name: 'REST POST /projects',
    need: always(NEED.writeProjects), scope: inRegion(village),
    async run ({ f, client }) {
      return { code: httpCode(await client.post('/api/v1/projects', projectInput(f.tree.village))) }
    }
  },
  {
    name: 'gql approveProject',
    need: always(NEED.approveProject), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const id = allowed ? await fresh.project(m, f.tree.village) : f.plannedProject
      return await mutate(client, 'mutation ($id: ID!) { approveProject(id: $id) { status } }', { id })
    }
  },
  {
    name: 'REST POST /projects/{id}/approve',
    need: always(NEED.approveProject), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const id = allowed ? await fresh.project(m, f.tree.village) : f.plannedProject
      return { code: httpCode(await client.post(`/api/v1/projects/${id}/approve`, {})) }
    }
  },
  {
    name: 'gql setProjectStatus (PLANNED → CANCELLED)',
    need: always(NEED.writeProjects), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const id = allowed ? await fresh.project(m, f.tree.village) : f.plannedProject
      return await mutate(client, 'mutation ($id: ID!) { setProjectStatus(id: $id, status: CANCELLED, expectedVersion: 1) { status } }', { id })
    }
  },
  {
    name: 'REST POST /projects/{id}/status',
    need: always(NEED.writeProjects), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const id = allowed ? await fresh.project(m, f.tree.village) : f.plannedProject
      return { code: httpCode(await client.post(`/api/v1/projects/${id}/status`, { status: 'CANCELLED', expectedVersion: 1 })) }
    }
  },
  {
    name: 'gql linkBeneficiaries',
    need: always(NEED.writeProjects), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const h = allowed ? await fresh.household(m, f.tree.village) : f.ready
      return await mutate(client, 'mutation ($p: ID!, $h: [ID!]!) { linkBeneficiaries(projectId: $p, householdIds: $h) { id } }', { p: f.project, h: [h] })
    }
  },
  {
    name: 'REST POST /projects/{id}/beneficiaries',
    need: always(NEED.writeProjects), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const h = allowed ? await fresh.household(m, f.tree.village) : f.ready
      return { code: httpCode(await client.post(`/api/v1/projects/${f.project}/beneficiaries`, { householdIds: [h] })) }
    }
  },
  {
    name: 'gql allocateFunds',
    need: always(NEED.writeProjects), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($p: ID!) { allocateFunds(projectId: $p, input: { source: INTEGRATED, amount: 1, documentNo: "卢财预〔2019〕3号", date: "2019-04-02" }) { id } }', { p: f.project })
    }
  },
  {
    name: 'REST POST /projects/{id}/allocations',
    need: always(NEED.writeProjects), scope: byId(village),
    async run ({ f, client }) {
      return { code: httpCode(await client.post(`/api/v1/projects/${f.project}/allocations`, { source: 'COUNTY', amount: 1, documentNo: '卢财预〔2019〕4号', date: '2019-04-03' })) }
    }
  },
  {
    name: 'gql recordPayment',
    need: always(NEED.writeProjects), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($p: ID!, $h: ID!) { recordPayment(projectId: $p, input: { householdId: $h, amount: 0.01, date: "2019-06-02" }) { id } }', { p: f.project, h: f.h.id })
    }
  },
  {
    name: 'REST POST /projects/{id}/payments',
    need: always(NEED.writeProjects), scope: byId(village),
    async run ({ f, client }) {
      return { code: httpCode(await client.post(`/api/v1/projects/${f.project}/payments`, { householdId: f.h.id, amount: 0.01, date: '2019-06-02', account: PAY_ACCOUNT })) }
    }
  },
  {
    name: 'gql createHousehold (input names the village)',
    need: always(NEED.writeRecords), scope: inRegion(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(f.tree.village) })
    }
  },
  {
    name: 'gql createHousehold with a direction override in a name (BAD_USER_INPUT naming it when allowed)',
    need: always(NEED.writeRecords), scope: inRegion(village), allowedCode: 'BAD_USER_INPUT',
    async run ({ f, client }) {
      const i = householdInput(f.tree.village)
      ;(i.members as Array<Record<string, unknown>>)[0]!.name = '王\u202E国建'
      return await mutate(client, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i }, /^input\.members\.0\.name: must not contain text-direction controls$/)
    }
  },
  {
    name: 'gql updateHousehold',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client }) {
      return await mutate(client, 'mutation ($id: ID!, $v: Int!) { updateHousehold(id: $id, expectedVersion: $v, input: { foodSecure: true }) { id } }', { id: f.h.id, v: await versionOf(m, 'households', f.h.id) })
    }
  },
  {
    name: 'gql closeHousehold',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const id = allowed ? await fresh.household(m, f.tree.village) : f.closable
      return await mutate(client, 'mutation ($id: ID!) { closeHousehold(id: $id, reason: MOVED_AWAY) { status } }', { id })
    }
  },
  {
    name: 'gql addMember',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($h: ID!, $i: MemberInput!) { addMember(householdId: $h, input: $i) { id } }', { h: f.h.id, i: memberInput({ relation: 'CHILD' }) })
    }
  },
  {
    name: 'gql updateMember',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($id: ID!) { updateMember(id: $id, input: { wantsWork: true }) { id } }', { id: f.h.memberId })
    }
  },
  {
    name: 'gql updateMember with a control character in the name (BAD_USER_INPUT naming it when allowed)',
    need: always(NEED.writeRecords), scope: byId(village), allowedCode: 'BAD_USER_INPUT',
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($id: ID!, $n: String) { updateMember(id: $id, input: { name: $n }) { id } }', { id: f.h.memberId, n: '李\n四' }, /^input\.name: must not contain control characters$/)
    }
  },
  {
    name: 'gql removeMember',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const id = allowed ? await fresh.member(m, f.h.id) : f.h.removableMemberId
      return await mutate(client, 'mutation ($id: ID!) { removeMember(id: $id, reason: MOVED) { id } }', { id })
    }
  },
  {
    name: 'gql recordIncome',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($h: ID!, $i: IncomeInput!) { recordIncome(householdId: $h, input: $i) { year } }', { h: f.h.id, i: INCOME_2019 })
    }
  },
  {
    name: 'gql addMeasure',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($h: ID!) { addMeasure(householdId: $h, input: { category: INDUSTRY, kind: "solar", startDate: "2019-04-01" }) { id } }', { h: f.h.id })
    }
  },
  {
    name: 'gql updateMeasure',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($id: ID!) { updateMeasure(id: $id, input: { status: ACTIVE }) { id } }', { id: f.h.measureId })
    }
  },
  {
    name: 'gql proposeExit',
    need: always(NEED.proposeExit), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const h = allowed ? await fresh.exitReady(m, f.tree.village) : f.ready
      return await mutate(client, 'mutation ($h: ID!) { proposeExit(householdId: $h, year: 2019) { status } }', { h })
    }
  },
  {
    name: 'gql verifyExit',
    need: always(NEED.verifyExit), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const r = allowed ? await fresh.proposed(m, f.tree.village) : f.proposed
      return await mutate(client, 'mutation ($r: ID!) { verifyExit(reviewId: $r, comment: "核实") { status } }', { r })
    }
  },
  {
    name: 'gql objectExit (during the notice)',
    need: always(NEED.proposeExit), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const r = allowed ? await fresh.verified(m, f.tree.village) : f.verified.id
      return await mutate(client, 'mutation ($r: ID!) { objectExit(reviewId: $r, text: "有异议") { status } }', { r })
    }
  },
  {
    name: 'gql approveExit (after the notice)',
    need: always(NEED.approveExit), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const r = allowed ? await fresh.verified(m, f.tree.village) : f.verified.id
      return await afterNotice(m, async () => await mutate(client, 'mutation ($r: ID!) { approveExit(reviewId: $r, comment: "同意") { status } }', { r }))
    }
  },
  {
    name: 'gql rejectExit of a PROPOSED review (township)',
    need: always(NEED.verifyExit), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const r = allowed ? await fresh.proposed(m, f.tree.village) : f.proposed
      return await mutate(client, 'mutation ($r: ID!) { rejectExit(reviewId: $r, reason: "不符合") { status } }', { r })
    }
  },
  {
    name: 'gql rejectExit of a VERIFIED review (county)',
    need: always(NEED.verifyExit), scope: byId(village), needAfter: NEED.approveExit,
    async run ({ m, f, client, allowed }) {
      const r = allowed ? await fresh.verified(m, f.tree.village) : f.verified.id
      return await mutate(client, 'mutation ($r: ID!) { rejectExit(reviewId: $r, reason: "不符合") { status } }', { r })
    }
  },
  {
    name: 'gql markReturned',
    need: always(NEED.approveExit), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const h = allowed ? await fresh.exited(m, f.tree.village) : f.exited
      return await mutate(client, 'mutation ($h: ID!) { markReturned(householdId: $h, year: 2019, reason: "因病返贫") { status } }', { h })
    }
  },
  {
    name: 'gql exitVillage (a village that is not poor: CONFLICT when allowed)',
    need: always(NEED.approveExit), scope: inRegion(village), allowedCode: 'CONFLICT',
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($c: String!) { exitVillage(code: $c, year: 2019) { code } }', { c: f.tree.village }, /not registered as poor/)
    }
  },
  {
    name: 'gql exitCounty (a county that is not poor: CONFLICT when allowed)',
    need: always(NEED.exitCounty), scope: inRegion(f => f.tree.county), allowedCode: 'CONFLICT',
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($c: String!) { exitCounty(code: $c, year: 2019) { code } }', { c: f.tree.county }, /not registered as poor/)
    }
  },
  ...([['county', (f: Fixture) => f.workItemCounty, (f: Fixture) => f.tree.county], ['village', (f: Fixture) => f.workItemVillage, (f: Fixture) => f.tree.village]] as const).map(([where, item, region]): Op => ({
    name: `gql resolveWorkItem (an item at the ${where})`,
    need: always(NEED.writeRecords), scope: byId(region),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($id: ID!) { resolveWorkItem(id: $id, disposition: NEEDS_VISIT, note: "入户核实") { id } }', { id: item(f) })
    }
  })),
  {
    name: 'gql createWorkTeam (the village has a serving team: CONFLICT when allowed)',
    need: always(NEED.writeRecords), scope: inRegion(village), allowedCode: 'CONFLICT',
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($c: String!) { createWorkTeam(input: { regionCode: $c, sendingUnit: "县水利局", startedOn: "2019-01-01" }) { id } }', { c: f.tree.village }, /serving work team/)
    }
  },
  {
    name: 'gql updateWorkTeam',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client }) {
      const [row] = await queryRows<{ version: number }>(m.app.database.db, sql`SELECT version FROM work_teams WHERE id = ${f.team.id}`)
      return await mutate(client, 'mutation ($id: ID!, $v: Int!) { updateWorkTeam(id: $id, expectedVersion: $v, input: { sendingUnit: "县水利局" }) { id } }', { id: f.team.id, v: row!.version })
    }
  },
  {
    name: 'gql endWorkTeam (a new team is sent after an allowed end)',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client }) {
      const [row] = await queryRows<{ version: number }>(m.app.database.db, sql`SELECT version FROM work_teams WHERE id = ${f.team.id}`)
      const out = await mutate(client, 'mutation ($id: ID!, $v: Int!) { endWorkTeam(id: $id, expectedVersion: $v) { id } }', { id: f.team.id, v: row!.version })
      if (out.code === 'OK') f.team = await fresh.team(m, f.tree.village)
      return out
    }
  },
  {
    name: 'gql addWorkTeamMember',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($t: ID!) { addWorkTeamMember(teamId: $t, input: { name: "钱队员", role: MEMBER }) { id } }', { t: f.team.id })
    }
  },
  {
    name: 'gql removeWorkTeamMember',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const id = allowed ? (await ok(m.admin, 'mutation ($t: ID!) { addWorkTeamMember(teamId: $t, input: { name: "孙队员", role: MEMBER }) { id } }', { t: f.team.id })).addWorkTeamMember.id : f.team.memberId
      return await mutate(client, 'mutation ($id: ID!) { removeWorkTeamMember(id: $id) { id } }', { id })
    }
  },
  {
    name: 'gql createHelper (kept at the village)',
    need: always(NEED.writeRecords), scope: inRegion(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($c: String!) { createHelper(input: { regionCode: $c, name: "吴帮扶", unit: "县教育局" }) { id } }', { c: f.tree.village })
    }
  },
  {
    name: 'gql updateHelper',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client }) {
      const [row] = await queryRows<{ version: number }>(m.app.database.db, sql`SELECT version FROM helpers WHERE id = ${f.helper.id}`)
      return await mutate(client, 'mutation ($id: ID!, $v: Int!) { updateHelper(id: $id, expectedVersion: $v, input: { unit: "县财政局" }) { id } }', { id: f.helper.id, v: row!.version })
    }
  },
  {
    name: 'gql assignHelper',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const h = allowed ? (await household(m, f.tree.village)).id : f.closable
      return await mutate(client, 'mutation ($h: ID!, $p: ID!) { assignHelper(householdId: $h, helperId: $p) { id } }', { h, p: f.helper.id })
    }
  },
  {
    name: 'gql endHelperAssignment',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ m, f, client, allowed }) {
      const id = allowed
        ? (await ok(m.admin, 'mutation ($h: ID!, $p: ID!) { assignHelper(householdId: $h, helperId: $p) { id } }', { h: (await household(m, f.tree.village)).id, p: f.helper.id })).assignHelper.id
        : f.helper.assignmentId
      return await mutate(client, 'mutation ($id: ID!) { endHelperAssignment(id: $id) { id } }', { id })
    }
  },
  {
    name: 'gql recordVisit',
    need: always(NEED.writeRecords), scope: byId(village),
    async run ({ f, client }) {
      return await mutate(client, 'mutation ($i: VisitInput!) { recordVisit(input: $i) { id } }', { i: { householdId: f.h.id, helperId: f.helper.id, visitedOn: '2019-06-01', note: '回访' } })
    }
  },
  {
    name: 'gql updateRegion (a township)',
    need: always(NEED.editReference), scope: inRegion(f => f.tree.township),
    async run ({ m, f, client }) {
      return await mutate(client, 'mutation ($c: String!, $v: Int!) { updateRegion(code: $c, expectedVersion: $v, input: { ruralPopulation: 12000 }) { code } }', { c: f.tree.township, v: await versionOf(m, 'regions', f.tree.township) })
    }
  },
  {
    name: 'gql setPovertyLine (the same amount again)',
    need: always(NEED.editReference), scope: noArea,
    async run ({ client }) {
      return await mutate(client, 'mutation { setPovertyLine(year: 2019, amount: 3747) { year } }', {})
    }
  },
  {
    name: 'gql setPlanTarget (the county\'s, created or updated)',
    need: always(NEED.editReference), scope: inRegion(f => f.tree.county),
    async run ({ m, f, client }) {
      const [row] = await queryRows<{ version: number }>(m.app.database.db, sql`SELECT version FROM plan_targets WHERE region_code = ${f.tree.county} AND year = 2019`)
      return await mutate(client, 'mutation ($c: String!, $v: Int) { setPlanTarget(regionCode: $c, year: 2019, expectedVersion: $v, input: { personsToExit: 100 }) { year } }', { c: f.tree.county, v: row?.version ?? null })
    }
  },
  {
    name: 'REST POST /exchange/jobs?kind= (a malformed Idempotency-Key: BAD_USER_INPUT when allowed)',
    need: c => exchange(c.kind), scope: noArea, allowedCode: 'BAD_USER_INPUT',
    async run ({ m, c, claims }) {
      const res = await m.app.app.inject({
        method: 'POST',
        url: `/api/v1/exchange/jobs?kind=${c.kind}`,
        headers: { authorization: `Bearer ${await token(claims)}`, 'content-type': 'application/x-ndjson', 'idempotency-key': 'not a key' },
        payload: JSON.stringify({ national_id: nationalId(), name: '某人' }) + '\n'
      })
      const code = httpCode(res)
      if (code === 'BAD_USER_INPUT' && res.json().errors?.[0]?.path !== 'headers.idempotency-key') return { code: `BAD_USER_INPUT: ${res.body}` }
      return { code }
    }
  }
]

// ── The property ──────────────────────────────────────────────────────────────

interface Expected { code: string, present?: boolean[], masked?: boolean }

/** What contract §3 says the case must answer. */
function expected (op: Op, f: Fixture, c: Case, u: User): Expected {
  if (!allows(op.need(c), u)) return { code: 'FORBIDDEN' }
  const scope = op.scope(f, c)
  if (scope.area === 'id' && (!inArea(u, scope.region) || op.visible?.(u) === false)) return { code: 'NOT_FOUND' }
  if (scope.area === 'region' && !inArea(u, scope.region)) return { code: 'FORBIDDEN' }
  if (op.needAfter !== undefined && !allows(op.needAfter, u)) return { code: 'FORBIDDEN' }
  const present = op.records?.(f).map(r => inArea(u, r) && (scope.filter === undefined || r.startsWith(scope.filter)))
  return { code: op.allowedCode ?? 'OK', ...(present !== undefined ? { present } : {}), ...(op.personal === true ? { masked: u.role === 'VIEWER' } : {}) }
}

export function caseArb (ops: Op[], trees: number): fc.Arbitrary<Case> {
  return fc.record({
    tree: fc.nat(trees - 1),
    op: fc.constantFrom(...ops.map(o => o.name)),
    position: fc.nat(10),
    dept: fc.constantFrom(...DEPTS),
    filter: fc.option(fc.nat(10), { nil: null }),
    kind: fc.constantFrom(...KINDS)
  })
}

/**
 * Every operation from every region of the first tree — the province, the city, the
 * county, the township and the village of the target, the sibling village, the other
 * township and its village, the other county, its township and village — so that each
 * role × level × relation is asked at least once whatever the random cases draw.
 */
export function examples (ops: Op[]): Array<[Case]> {
  return ops.flatMap(op => Array.from({ length: 11 }, (_, position): [Case] => [{ tree: 0, op: op.name, position, dept: DEPTS[position % DEPTS.length]!, filter: null, kind: KINDS[position % KINDS.length]! }]))
}

interface Tally { cases: number, byOp: Map<string, Map<string, number>>, byRelation: Map<string, number> }
export const newTally = (): Tally => ({ cases: 0, byOp: new Map(), byRelation: new Map() })

/**
 * Runs one case — the operation asked by each role from the case's region — against the
 * app, and throws when an answer differs from contract §3 or a refused request changed
 * the database (the refused requests run first, between two snapshots).
 */
export async function check (m: Matrix, ops: Op[], c: Case, tally: Tally): Promise<void> {
  const op = ops.find(o => o.name === c.op)!
  const f = m.fixtures[c.tree]!
  const scope = op.scope(f, c)
  const region = f.tree.codes[c.position % f.tree.codes.length]!
  const relation = relationOf(region, scope.region)
  const users = ROLES.map(role => ({ user: { role, region, dept: c.dept }, want: expected(op, f, c, { role, region, dept: c.dept }) }))
  const refused = users.filter(u => u.want.code !== 'OK')
  const failures: string[] = []
  const before = refused.length > 0 ? await snapshot(m) : ''
  for (const [i, { user, want }] of [...refused, ...users.filter(u => u.want.code === 'OK')].entries()) {
    const claims: TokenClaims = { sub: uniqueSub('m'), role: user.role, region: user.region, ...(user.role === 'EXCHANGE' ? { dept: user.dept } : {}) }
    const got = await op.run({ m, f, c, client: m.app.as(claims), claims, scope, allowed: want.code === 'OK' })
    const wrong: string[] = []
    if (got.code !== want.code) wrong.push(`answered ${got.code}, expected ${want.code}`)
    if (want.present !== undefined && got.code === want.code && JSON.stringify(got.present) !== JSON.stringify(want.present)) wrong.push(`present ${JSON.stringify(got.present)}, expected ${JSON.stringify(want.present)}`)
    if (want.masked !== undefined && got.masked !== undefined && got.masked !== want.masked) wrong.push(`masked ${String(got.masked)}, expected ${String(want.masked)}`)
    if (wrong.length > 0) failures.push(`${user.role}${user.role === 'EXCHANGE' ? ` (${user.dept})` : ''}: ${wrong.join('; ')}`)
    if (i === refused.length - 1) {
      const after = await snapshot(m)
      if (after !== before) failures.push(`refused requests (${refused.map(r => r.user.role).join(', ')}) changed the database: ${before} → ${after}`)
    }
    const outcomes = tally.byOp.get(op.name) ?? new Map<string, number>()
    const key = want.code + (want.present !== undefined ? ` present=${want.present.map(Number).join('')}` : '')
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    tally.byOp.set(op.name, outcomes)
  }
  if (failures.length > 0) throw new Error(`${op.name} from ${region} (${relation} of ${scope.region}${scope.filter !== undefined ? ', filtered' : ''}): ${failures.join(' | ')}`)
  tally.cases += users.length
  tally.byRelation.set(relation, (tally.byRelation.get(relation) ?? 0) + 1)
}

/** The run's seed: MATRIX_SEED to replay one, else a new one (printed). It draws the trees and the cases. */
export function matrixSeed (t: { comment: (...args: unknown[]) => void }): number {
  const seed = process.env.MATRIX_SEED !== undefined ? Number(process.env.MATRIX_SEED) : Math.floor(Math.random() * 2 ** 31)
  t.comment(`matrix seed ${seed} (replay with MATRIX_SEED=${seed})`)
  return seed
}

/** Each operation was seen allowed and (unless public) refused or without the target (the examples see to it); a summary of what ran. */
export function matrixReport (t: { ok: (v: unknown, msg: string) => void, comment: (...args: unknown[]) => void }, ops: Op[], tally: Tally): void {
  for (const op of ops) {
    const outcomes = [...(tally.byOp.get(op.name)?.keys() ?? [])]
    const open = op.need(examples([op])[0]![0]) === NEED.public
    t.ok(outcomes.some(o => o.startsWith(op.allowedCode ?? 'OK')) && (open || outcomes.some(o => o.startsWith('FORBIDDEN') || o.startsWith('NOT_FOUND') || o.includes('present=0'))),
      `${op.name}: ${outcomes.join(', ')}`)
  }
  t.comment(`${tally.cases} requests; cases per relation of the user's region to the target's: ${[...tally.byRelation].map(([r, n]) => `${r} ${n}`).join(', ')}`)
}
