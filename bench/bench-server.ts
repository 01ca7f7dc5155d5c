/**
 * Shared by the benchmarks: a PostgreSQL database on the machine's server, filled once
 * with generateDemoData (reused by later runs while it holds enough households), and
 * the service started on 127.0.0.1 in its own process over it, as `npm start` runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { count, sql } from 'drizzle-orm'
import pg from 'pg'
import { openDatabase } from '../src/db/index.js'
import { generateDemoData } from '../src/db/demo-data.js'
import { households, members } from '../src/db/schema/index.js'
import { migrateAndSeed } from '../src/infra/migrate.js'
import { mintToken, type TokenClaims } from '../src/infra/tokens.js'
import { Sealer } from '../src/shared/sealing.js'
import { projectRoot } from '../src/paths.js'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
// Fixed bench-only secrets, so that a database filled by an earlier run can be reused.
const DATA_KEY = Buffer.alloc(32, 42)
const JWT_SECRET = 'bench-secret-for-the-benchmarks-only-not-a-real-one'
const log = { error: (obj: unknown) => { console.error(obj) } }

export const sealer = new Sealer(DATA_KEY)

export function databaseUrl (name: string): string {
  const u = new URL(ADMIN_URL)
  u.pathname = '/' + name
  return u.toString()
}

/** Creates (or, with `fresh`, recreates) the database and fills it up to `households` households across 三门峡市. */
export async function benchDatabase (name: string, householdCount: number, fresh: boolean): Promise<string> {
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  if (fresh) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  if ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 0) await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = databaseUrl(name)
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 4 }, log)
  try {
    await migrateAndSeed(database, { regionSeed: '4112' })
    const [have] = await database.db.select({ n: count() }).from(households)
    const missing = householdCount - (have?.n ?? 0)
    if (missing > 0) {
      const started = Date.now()
      const counts = await generateDemoData(database.db, sealer, { households: missing, region: '4112', seed: 1 })
      console.log(`generated ${counts.households} households, ${counts.members} members in ${((Date.now() - started) / 1000).toFixed(0)} s`)
      await database.db.execute(sql`VACUUM ANALYZE`)
    }
  } finally {
    await database.close()
  }
  return url
}

/** National IDs of living active members, at random, opened with the bench key. */
export async function registeredIds (url: string, n: number): Promise<string[]> {
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 1 }, log)
  try {
    const rows = await database.db.select({ sealed: members.nationalIdSealed }).from(members)
      .where(sql`${members.active} AND ${members.deceasedAt} IS NULL`).orderBy(sql`random()`).limit(n)
    return rows.map(r => sealer.open(r.sealed))
  } finally {
    await database.close()
  }
}

export async function benchToken (claims: TokenClaims): Promise<string> {
  return await mintToken({ secret: new TextEncoder().encode(JWT_SECRET), issuer: 'beneficiary-registry', audience: 'beneficiary-registry' }, claims, '2h')
}

export interface BenchServer { child: ChildProcess, base: string, rssKiB: () => number, peakRssKiB: () => number, stop: () => Promise<void> }

/**
 * The service in one Node process (`node --import tsx src/server.ts`) on 127.0.0.1:port.
 * `env` adds variables (e.g. IMPORT_BATCH_ROWS); BENCH_NODE_ARGS adds options to its
 * node, e.g. `--cpu-prof` to profile it.
 */
export async function startServer (url: string, port: number, poolMax: number, env: Record<string, string> = {}): Promise<BenchServer> {
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/server.ts'], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: url,
      DATABASE_POOL_MAX: String(poolMax),
      DEMO_DATA: 'false',
      JWT_SECRET,
      DATA_KEY: DATA_KEY.toString('hex'),
      // The benchmarks send all their traffic with one token: rate limits far above it.
      RATE_LIMIT_PER_MINUTE: '1000000',
      RATE_LIMIT_EXCHANGE_PER_MINUTE: '1000000',
      ...env
    },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const base = `http://127.0.0.1:${port}`
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  /** Stops the server and waits until it has exited (and freed its port). */
  const stop = async (): Promise<void> => { child.kill('SIGTERM'); await exited }
  const status = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0)
  const rssKiB = (): number => status('VmRSS')
  /** The process's peak resident memory so far (VmHWM). */
  const peakRssKiB = (): number => status('VmHWM')
  for (let i = 0; i < 300 && child.exitCode === null; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return { child, base, rssKiB, peakRssKiB, stop }
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  await stop()
  throw new Error('the server did not become ready')
}
