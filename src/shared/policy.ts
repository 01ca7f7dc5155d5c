import { like, sql, type Column, type SQL } from 'drizzle-orm'
import { badInput, forbidden } from './errors.js'
import type { Dept, Principal, Role } from './principal.js'
import { ADMIN_LEVELS, inAreaOf, isRegionCode, type AdminLevel } from './region-code.js'

/**
 * The role × action table of contract §3, held as data. Every entry point (GraphQL
 * root field, REST route) names one action in OPERATIONS below; services call
 * `authorize(principal, action, regionCode)` before they touch a record, and
 * repositories AND `inArea(column, principal)` into every query.
 */
export interface Rule {
  roles: readonly Role[]
  /** The user must sit at this level or above (a shorter region code). */
  minLevel?: AdminLevel
  /** For EXCHANGE users: the departments allowed (a caller may narrow it per target, e.g. per import kind). */
  depts?: readonly Dept[]
}

const ALL: readonly Role[] = ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR', 'EXCHANGE']

export const POLICY = {
  /** Any authenticated caller: who am I. */
  'self.read': { roles: ALL },
  /** Region names and codes are public administrative data; any authenticated caller may read them. */
  'reference.read': { roles: ALL },
  /** Households, members, measures, incomes, exits in area (VIEWER sees them masked). */
  'record.read': { roles: ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR'] },
  'record.write': { roles: ['OPERATOR', 'ADMIN'] },
  /** The people sent (因村派人): work teams, helpers, their assignments and visits — read like records (VIEWER masked). */
  'people.read': { roles: ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR'] },
  /** Written like records: OPERATOR and ADMIN in area. */
  'people.write': { roles: ['OPERATOR', 'ADMIN'] },
  'exit.propose': { roles: ['OPERATOR', 'REVIEWER', 'ADMIN'] },
  'exit.verify': { roles: ['REVIEWER', 'ADMIN'], minLevel: 'TOWNSHIP' },
  /** Approve an exit, mark a return to poverty. */
  'exit.approve': { roles: ['REVIEWER', 'ADMIN'], minLevel: 'COUNTY' },
  /** Record a county's exit (摘帽). */
  'exit.county': { roles: ['REVIEWER', 'ADMIN'], minLevel: 'CITY' },
  /** Projects (项目库) and their funds in area: the record readers (VIEWER sees accounts masked). */
  'project.read': { roles: ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR'] },
  /** Create projects, change their status, link households, allocate funds, record payments (contract §10). */
  'project.write': { roles: ['OPERATOR', 'ADMIN'] },
  /** Approve a planned project (county level or above). */
  'project.approve': { roles: ['REVIEWER', 'ADMIN'], minLevel: 'COUNTY' },
  'statistics.read': { roles: ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR'] },
  /** 公告公示: a region's project funds for publication (no personal data). */
  'disclosure.read': { roles: ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR'] },
  'audit.read': { roles: ['ADMIN', 'AUDITOR'] },
  /** The whole log as NDJSON (entries outside the area as their hashes only). */
  'audit.export': { roles: ['ADMIN', 'AUDITOR'], minLevel: 'CITY' },
  /** Edit regions, targets, poverty lines. */
  'reference.edit': { roles: ['ADMIN'], minLevel: 'CITY' },
  'exchange.submit': { roles: ['ADMIN', 'EXCHANGE'], depts: ['civil_affairs', 'health', 'education', 'disability', 'hr', 'public_security', 'finance'] },
  'eligibility.check': { roles: ['ADMIN', 'EXCHANGE'], depts: ['health', 'civil_affairs'] },
  /** The service's Prometheus metrics (no personal data; also METRICS_TOKEN, see auth). */
  'metrics.read': { roles: ['ADMIN'] }
} as const satisfies Record<string, Rule>

export type Action = keyof typeof POLICY

/**
 * Every entry point of the service and the action it needs. The GraphQL layer
 * refuses to start when a Query or Mutation field has no entry here, and so does
 * the HTTP layer for a route: access is denied by default.
 */
export const OPERATIONS: Record<string, Action | 'public'> = {
  // Infrastructure (no token).
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /openapi.yaml': 'public',
  // The audit log's public keys: anyone may check a signed tree head.
  'GET /.well-known/audit-keys.json': 'public',
  'GET /metrics': 'metrics.read',
  // CORS preflight (browsers send it without credentials); answered only for CORS_ORIGINS.
  'OPTIONS *': 'public',
  // GraphiQL's static page and assets (development only; queries still need a token).
  'GET /graphiql': 'public',
  'GET /graphiql/static/*': 'public',
  // GraphQL: the transport needs a token; each root field is checked below.
  'GET /graphql': 'self.read',
  'POST /graphql': 'self.read',
  'Query.me': 'self.read',
  'Query.region': 'reference.read',
  'Mutation.updateRegion': 'reference.edit',
  'Query.povertyLines': 'reference.read',
  'Query.labels': 'reference.read',
  'Query.household': 'record.read',
  'Query.households': 'record.read',
  'Query.memberByNationalId': 'record.read',
  'Mutation.createHousehold': 'record.write',
  'Mutation.updateHousehold': 'record.write',
  'Mutation.closeHousehold': 'record.write',
  'Mutation.addMember': 'record.write',
  'Mutation.updateMember': 'record.write',
  'Mutation.removeMember': 'record.write',
  'Mutation.recordIncome': 'record.write',
  'Mutation.addMeasure': 'record.write',
  'Mutation.updateMeasure': 'record.write',
  'Mutation.setPovertyLine': 'reference.edit',
  'Query.exitCriteria': 'record.read',
  'Query.exitReview': 'record.read',
  'Query.exitReviews': 'record.read',
  'Query.exitNotices': 'record.read',
  'Query.exitWarnings': 'record.read',
  'Mutation.proposeExit': 'exit.propose',
  'Mutation.objectExit': 'exit.propose',
  'Mutation.verifyExit': 'exit.verify',
  // From PROPOSED a township verifier may reject; from VERIFIED only a county approver (checked in the service).
  'Mutation.rejectExit': 'exit.verify',
  'Mutation.approveExit': 'exit.approve',
  'Mutation.markReturned': 'exit.approve',
  'Mutation.exitVillage': 'exit.approve',
  'Mutation.exitCounty': 'exit.county',
  'Query.workItems': 'record.read',
  'Mutation.resolveWorkItem': 'record.write',
  'Query.statistics': 'statistics.read',
  'Query.statisticsTrend': 'statistics.read',
  'Query.planTargets': 'statistics.read',
  'Mutation.setPlanTarget': 'reference.edit',
  'Query.project': 'project.read',
  'Query.projects': 'project.read',
  'Mutation.createProject': 'project.write',
  'Mutation.approveProject': 'project.approve',
  'Mutation.setProjectStatus': 'project.write',
  'Mutation.linkBeneficiaries': 'project.write',
  'Mutation.allocateFunds': 'project.write',
  'Mutation.recordPayment': 'project.write',
  'Query.fundStatistics': 'statistics.read',
  // People sent (因村派人): work teams, helpers, assignments, visits.
  'Query.workTeam': 'people.read',
  'Query.workTeams': 'people.read',
  'Query.helper': 'people.read',
  'Query.helpers': 'people.read',
  'Query.unvisitedHouseholds': 'people.read',
  'Mutation.createWorkTeam': 'people.write',
  'Mutation.updateWorkTeam': 'people.write',
  'Mutation.endWorkTeam': 'people.write',
  'Mutation.addWorkTeamMember': 'people.write',
  'Mutation.removeWorkTeamMember': 'people.write',
  'Mutation.createHelper': 'people.write',
  'Mutation.updateHelper': 'people.write',
  'Mutation.assignHelper': 'people.write',
  'Mutation.endHelperAssignment': 'people.write',
  'Mutation.recordVisit': 'people.write',
  'Query.auditLog': 'audit.read',
  'Query.verifyAuditChain': 'audit.read',
  'Query.auditTreeHead': 'audit.read',
  'Query.auditInclusionProof': 'audit.read',
  'Query.auditConsistencyProof': 'audit.read',
  // REST.
  'GET /api/v1/me': 'self.read',
  'GET /api/v1/regions/:code': 'reference.read',
  'GET /api/v1/households/:id': 'record.read',
  'GET /api/v1/households': 'record.read',
  'GET /api/v1/exit-notices': 'record.read',
  // Import jobs: the department of each kind is checked per job in the service.
  'POST /api/v1/exchange/jobs': 'exchange.submit',
  'GET /api/v1/exchange/jobs/:id': 'exchange.submit',
  'GET /api/v1/exchange/jobs/:id/errors': 'exchange.submit',
  'GET /api/v1/exchange/jobs/:id/report': 'exchange.submit',
  // Statistics.
  'GET /api/v1/statistics/:regionCode': 'statistics.read',
  'GET /api/v1/statistics/:regionCode/trend': 'statistics.read',
  'GET /api/v1/statistics/:regionCode/breakdown.csv': 'statistics.read',
  'GET /api/v1/households/export': 'record.read',
  // Projects and funds.
  'GET /api/v1/projects': 'project.read',
  'GET /api/v1/projects/:id': 'project.read',
  'POST /api/v1/projects': 'project.write',
  'POST /api/v1/projects/:id/approve': 'project.approve',
  'POST /api/v1/projects/:id/status': 'project.write',
  'POST /api/v1/projects/:id/beneficiaries': 'project.write',
  'POST /api/v1/projects/:id/allocations': 'project.write',
  'POST /api/v1/projects/:id/payments': 'project.write',
  'GET /api/v1/statistics/:regionCode/funds': 'statistics.read',
  'GET /api/v1/households/unvisited': 'people.read',
  'GET /api/v1/work-teams': 'people.read',
  'POST /api/v1/work-teams': 'people.write',
  'GET /api/v1/work-teams/:id': 'people.read',
  'PATCH /api/v1/work-teams/:id': 'people.write',
  'POST /api/v1/work-teams/:id/end': 'people.write',
  'POST /api/v1/work-teams/:id/members': 'people.write',
  'DELETE /api/v1/work-teams/:id/members/:memberId': 'people.write',
  'GET /api/v1/changes': 'record.read',
  'GET /api/v1/audit/tree-head': 'audit.read',
  'GET /api/v1/audit/proofs/inclusion': 'audit.read',
  'GET /api/v1/audit/proofs/consistency': 'audit.read',
  'GET /api/v1/audit/log': 'audit.export',
  'POST /api/v1/eligibility': 'eligibility.check',
  'GET /api/v1/disclosures/funds': 'disclosure.read'
}

const levelRank = (level: AdminLevel): number => ADMIN_LEVELS.indexOf(level)

/** May the principal perform the action at all (role, level, department), ignoring any target region? */
export function canPerform (p: Principal, action: Action, depts?: readonly Dept[]): boolean {
  const rule: Rule = POLICY[action]
  if (!rule.roles.includes(p.role)) return false
  if (rule.minLevel !== undefined && levelRank(p.level) > levelRank(rule.minLevel)) return false
  const allowed = depts ?? rule.depts
  if (p.role === 'EXCHANGE' && allowed !== undefined && (p.dept === null || !allowed.includes(p.dept))) return false
  return true
}

/** The single entry point: may the principal perform the action on something in `regionCode`? */
export function can (p: Principal, action: Action, regionCode?: string, depts?: readonly Dept[]): boolean {
  if (!canPerform(p, action, depts)) return false
  return regionCode === undefined || inAreaOf(p.regionCode, regionCode)
}

/** Throws FORBIDDEN unless `can(...)`. */
export function authorize (p: Principal, action: Action, regionCode?: string, depts?: readonly Dept[]): void {
  if (!can(p, action, regionCode, depts)) throw forbidden()
}

/**
 * A region filter of a list or read: the caller's own region when omitted; a malformed
 * code is BAD_USER_INPUT naming `path`, a region outside the caller's area FORBIDDEN.
 */
export function regionFilter (p: Principal, action: Action, regionCode: string | null | undefined, path: string): string {
  const code = regionCode ?? p.regionCode
  if (!isRegionCode(code)) throw badInput([{ path, message: 'must be a 2, 4, 6, 9 or 12-digit administrative code' }])
  if (!can(p, action, code)) throw forbidden('The region is outside your area')
  return code
}

/** VIEWER output is masked (contract §3). */
export function isMasked (p: Principal): boolean {
  return p.role === 'VIEWER'
}

/** The caller's area as the parameter `area` of a prepared statement, executed with `{ area: areaPattern(p) }`. */
export const AREA = sql.placeholder('area')
export const areaPattern = (p: Principal): string => `${p.regionCode}%`

/** The area predicate for SQL: the column's region code starts with the user's region code (or the statement's `AREA`). */
export function inArea (column: Column | SQL, p: Principal | typeof AREA): SQL {
  return like(column, p === AREA ? AREA : areaPattern(p as Principal))
}
