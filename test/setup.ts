/**
 * Runs once before the suite (tap's `before`): builds the template database every
 * test file copies — migrated and seeded — on PGlite, or on PostgreSQL when
 * TEST_DATABASE_URL is set.
 */
import { rmSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import pg from 'pg'
import { openDatabase } from '../src/db/index.js'
import { migrateAndSeed } from '../src/infra/migrate.js'
import { PG_ADMIN_URL, PG_TEMPLATE, PGLITE_TEMPLATE, USING_PG, withDatabase } from './helper.js'

const log = { error: (obj: unknown) => { console.error(obj) } }
const config = { regionSeed: '4112' }

if (USING_PG) {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  // Leftovers of an interrupted earlier run.
  const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'br\\_test\\_%'")
  for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${PG_TEMPLATE}`)
  await admin.end()
  const database = await openDatabase({ kind: 'postgres', url: withDatabase(PG_ADMIN_URL, PG_TEMPLATE), poolMax: 2 }, log)
  await migrateAndSeed(database, config)
  await database.close()
} else {
  rmSync(PGLITE_TEMPLATE, { recursive: true, force: true })
  mkdirSync(dirname(PGLITE_TEMPLATE), { recursive: true })
  const database = await openDatabase({ kind: 'pglite', dataDir: PGLITE_TEMPLATE }, log)
  await migrateAndSeed(database, config)
  await database.close()
}
