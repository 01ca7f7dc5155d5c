import { and, eq, isNull, like, ne, sql } from 'drizzle-orm'
import type { Db } from '../../db/index.js'
import { households, members } from '../../db/schema/index.js'
import type { Principal } from '../../shared/principal.js'

export interface Registration { hash: string, status: string, attribute: string }

/**
 * The registrations among keyed hashes: living active members of households that are
 * not closed, in an area. One prepared statement per database (the hot path: parsed and
 * planned once per connection, the hashes passed as one array parameter), served by
 * the index on `members.national_id_hash`; at most one row per hash (a person is an
 * active member of one household only).
 */
function prepare (db: Db) {
  return db.select({ hash: members.nationalIdHash, status: households.status, attribute: households.attribute })
    .from(members)
    .innerJoin(households, eq(households.id, members.householdId))
    .where(and(
      sql`${members.nationalIdHash} = ANY(${sql.placeholder('hashes')}::text[])`,
      sql`${members.active}`,
      isNull(members.deceasedAt),
      // The area predicate of policy.inArea, with the prefix as a parameter.
      like(members.regionCode, sql.placeholder('area')),
      like(households.regionCode, sql.placeholder('area')),
      ne(households.status, 'CLOSED')
    ))
    .prepare('eligibility_registrations')
}

const prepared = new WeakMap<Db, ReturnType<typeof prepare>>()

export async function registrationsByHash (db: Db, p: Principal, hashes: readonly string[]): Promise<Registration[]> {
  if (hashes.length === 0) return []
  let statement = prepared.get(db)
  if (statement === undefined) {
    statement = prepare(db)
    prepared.set(db, statement)
  }
  return await statement.execute({ hashes, area: `${p.regionCode}%` })
}
