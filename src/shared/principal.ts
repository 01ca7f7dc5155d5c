import type { AdminLevel } from './region-code.js'

export const ROLES = ['VIEWER', 'OPERATOR', 'REVIEWER', 'ADMIN', 'AUDITOR', 'EXCHANGE'] as const
export type Role = typeof ROLES[number]

export const DEPTS = ['civil_affairs', 'health', 'education', 'disability', 'hr', 'public_security', 'finance'] as const
export type Dept = typeof DEPTS[number]

/** The authenticated caller, from the verified token's claims (contract §2). */
export interface Principal {
  sub: string
  role: Role
  /** The region the user sits at: everything whose code starts with it is in area. */
  regionCode: string
  level: AdminLevel
  dept: Dept | null
}
