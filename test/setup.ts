/**
 * Runs once before the suite (tap's `before`): makes sure the template database
 * every test file copies exists — migrated and seeded — on PGlite, or on
 * PostgreSQL when TEST_DATABASE_URL is set. Templates are keyed by a hash of the
 * migrations and seed, so they are rebuilt only when those change.
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import pg from 'pg'
import { openDatabase } from '../src/db/index.js'
import { migrateAndSeed } from '../src/infra/migrate.js'
import { PG_ADMIN_URL, PG_TEMPLATE, PGLITE_TEMPLATE, USING_PG, withDatabase } from './helper.js'

const log = { error: (obj: unknown) => { console.error(obj) } }
const config = { regionSeed: '4112' }

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true } catch { return false }
}

if (USING_PG) {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  // Databases left by test processes that died without their teardown.
  const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'br\\_test\\_%'")
  for (const { datname } of rows) {
    const pid = Number(datname.split('_')[2])
    if (!alive(pid)) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`)
  }
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [PG_TEMPLATE])
  if (exists.rowCount === 0) {
    const building = `${PG_TEMPLATE}_${process.pid}`
    await admin.query(`CREATE DATABASE ${building}`)
    const database = await openDatabase({ kind: 'postgres', url: withDatabase(PG_ADMIN_URL, building), poolMax: 2 }, log)
    await migrateAndSeed(database, config)
    await database.close()
    try {
      await admin.query(`ALTER DATABASE ${building} RENAME TO ${PG_TEMPLATE}`)
    } catch {
      await admin.query(`DROP DATABASE ${building}`) // another run built it first
    }
  }
  await admin.end()
} else if (!existsSync(PGLITE_TEMPLATE)) {
  mkdirSync(dirname(PGLITE_TEMPLATE), { recursive: true })
  const building = mkdtempSync(`${PGLITE_TEMPLATE}-building-`)
  const database = await openDatabase({ kind: 'pglite', dataDir: building }, log)
  await migrateAndSeed(database, config)
  await database.close()
  try {
    renameSync(building, PGLITE_TEMPLATE)
  } catch {
    rmSync(building, { recursive: true, force: true }) // another run built it first
  }
}
