import { and, eq, inArray, isNull, ne, sql } from 'drizzle-orm'
import type { DbOrTx } from '../../db/index.js'
import { households, members } from '../../db/schema/index.js'
import { inArea } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'

export interface Registration { hash: string, status: string, attribute: string }

/**
 * The registrations among the keyed hashes, in one statement: living active members of
 * households that are not closed, in the principal's area. Served by the index on
 * `members.national_id_hash`; at most one row per hash (one active household per person).
 */
export async function registrationsByHash (db: DbOrTx, p: Principal, hashes: readonly string[]): Promise<Registration[]> {
  if (hashes.length === 0) return []
  return await db.select({ hash: members.nationalIdHash, status: households.status, attribute: households.attribute })
    .from(members)
    .innerJoin(households, eq(households.id, members.householdId))
    .where(and(
      inArray(members.nationalIdHash, [...hashes]),
      sql`${members.active}`,
      isNull(members.deceasedAt),
      inArea(members.regionCode, p),
      inArea(households.regionCode, p),
      ne(households.status, 'CLOSED')
    ))
}
