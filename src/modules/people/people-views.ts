import { maskPhone } from '../../shared/masking.js'
import { isMasked } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import type { AssignmentRow, HelperRow, TeamMemberRow, TeamRow, VisitRow } from './people-repository.js'

/**
 * The output views of the people sent (work teams, helpers, assignments, visits): phone
 * numbers masked for VIEWER like every other phone (contract §3). Shared by GraphQL, REST
 * and the households module (a household's current helper).
 */

const phoneFor = (p: Principal, phone: string | null): string | null => (phone !== null && isMasked(p) ? maskPhone(phone) : phone)

export type TeamView = Omit<TeamRow, 'createdAt' | 'updatedAt'>
export const teamView = ({ createdAt: _c, updatedAt: _u, ...rest }: TeamRow): TeamView => rest

export type TeamMemberView = Omit<TeamMemberRow, 'createdAt' | 'updatedAt' | 'regionCode'>
export function teamMemberView ({ createdAt: _c, updatedAt: _u, regionCode: _r, ...rest }: TeamMemberRow, p: Principal): TeamMemberView {
  return { ...rest, phone: phoneFor(p, rest.phone) }
}

export type HelperView = Omit<HelperRow, 'createdAt' | 'updatedAt'>
export function helperView ({ createdAt: _c, updatedAt: _u, ...rest }: HelperRow, p: Principal): HelperView {
  return { ...rest, phone: phoneFor(p, rest.phone) }
}

export type AssignmentView = Omit<AssignmentRow, 'createdAt' | 'updatedAt'>
export const assignmentView = ({ createdAt: _c, updatedAt: _u, ...rest }: AssignmentRow): AssignmentView => rest

export type VisitView = Omit<VisitRow, 'createdAt'> & { createdAt: string }
export const visitView = (row: VisitRow): VisitView => ({ ...row, createdAt: row.createdAt.toISOString() })

/** What the audit trail keeps of a record: its columns but the timestamps (phones as stored, like a household's). */
export const auditOf = <T extends { createdAt?: Date, updatedAt?: Date }>({ createdAt: _c, updatedAt: _u, ...rest }: T): Omit<T, 'createdAt' | 'updatedAt'> => rest
