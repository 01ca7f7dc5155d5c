/**
 * Test harness: the real app (`fp(app)`) over a real database, one database per
 * test file (tap runs each file in its own process).
 *
 *  - Embedded (default): a copy of the PGlite template directory made by test/setup.ts.
 *  - PostgreSQL (TEST_DATABASE_URL set): a database created from the template database.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, type WriteStream } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type LightMyRequestResponse } from 'fastify'
import fp from 'fastify-plugin'
import pg from 'pg'
import t from 'tap'
import app, { serverOptions } from '../src/app.js'
import { loadConfig, type Config } from '../src/config.js'
import { openDatabase, type Database } from '../src/db/index.js'
import { migrateAndSeed } from '../src/infra/migrate.js'
import { mintToken, type TokenClaims } from '../src/infra/tokens.js'
import type { Clock } from '../src/shared/context.js'
import { paths, projectRoot } from '../src/paths.js'

export const TEST_SECRET = 'test-secret-for-the-beneficiary-registry-suite'
export const TEST_DATA_KEY = Buffer.alloc(32, 7).toString('base64')
/** The suite's audit signing key (Ed25519, as a private JWK). */
export const TEST_AUDIT_KEY = '{"kty":"OKP","crv":"Ed25519","d":"y5gomxsjG401FbLFNckeLi0d_UzAMkDCR02u0qVLy9s","x":"4yPM0Mg1hVEi8jzseWYK9wmfi1yIjaipdp8Ey4dSsas"}'
export const PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? ''
export const USING_PG = PG_ADMIN_URL !== ''
/**
 * Templates are named by a hash of what shapes them (migrations, seed), so they are
 * built once per change and concurrent runs can share them.
 */
const TEMPLATE_KEY = (() => {
  const hash = createHash('sha256')
  const files = [
    ...readdirSync(paths.migrations, { recursive: true, withFileTypes: true }).filter(f => f.isFile()).map(f => join(f.parentPath, f.name)),
    join(paths.seed, 'regions-4112.tsv'),
    join(projectRoot, 'src', 'db', 'seed.ts')
  ].sort()
  for (const f of files) hash.update(f).update(readFileSync(f))
  return hash.digest('hex').slice(0, 12)
})()
export const PG_TEMPLATE = `br_template_${TEMPLATE_KEY}`
export const PGLITE_TEMPLATE = join(projectRoot, '.tap', `pglite-template-${TEMPLATE_KEY}`)
/** The machine's PostgreSQL, for tests that need a server whichever variant runs (e.g. stopping it). */
export const MACHINE_PG_URL = PG_ADMIN_URL !== '' ? PG_ADMIN_URL : 'postgres://postgres@127.0.0.1:5432/postgres'

/** A database URL on the same server as `base`, naming database `name`. */
export function withDatabase (base: string, name: string): string {
  const u = new URL(base)
  u.pathname = '/' + name
  return u.toString()
}

export function testConfig (env: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', JWT_SECRET: TEST_SECRET, DATA_KEY: TEST_DATA_KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DATA_DIR: join(tmpdir(), 'br-unused'), ...env })
}

/**
 * Every test app logs (at least at info, whatever LOG_LEVEL the test chose, through the
 * app's own logger and its scrubbing) into one file per test process here; test/logs-check.ts
 * reads them all after the suite and fails it when one holds personal data or a token.
 */
export const LOG_CAPTURE_DIR = join(projectRoot, '.tap', 'app-logs')
let captureFile: WriteStream | null = null

/** The app's server options for a test: its log lines go to the capture file (and to `sink`, if given). */
export function testServerOptions (config: Config, sink?: (line: string) => void): FastifyServerOptions {
  const options = serverOptions(config)
  if (captureFile === null) {
    mkdirSync(LOG_CAPTURE_DIR, { recursive: true })
    captureFile = createWriteStream(join(LOG_CAPTURE_DIR, `${process.pid}.ndjson`), { flags: 'a' })
  }
  const file = captureFile
  const stream = new Writable({ write (chunk, _enc, cb) { sink?.(String(chunk)); file.write(chunk); cb() } })
  const level = config.logLevel === 'silent' ? 'info' : config.logLevel
  return { ...options, logger: { ...(options.logger as object), level, stream } }
}

let shared: Promise<Database> | null = null

/**
 * Creates a fresh, migrated and seeded database for this test file. `poolMax`: the pool's
 * connections on PostgreSQL (PGlite always runs one transaction at a time).
 */
export async function freshDatabase (opts: { onQuery?: (query: string) => void, poolMax?: number } = {}): Promise<Database> {
  const log = { error: (obj: unknown) => { console.error(obj) } }
  if (USING_PG) {
    const name = `br_test_${process.pid}_${randomBytes(3).toString('hex')}`
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${PG_TEMPLATE}`)
    await admin.end()
    const database = await openDatabase({ kind: 'postgres', url: withDatabase(PG_ADMIN_URL, name), poolMax: opts.poolMax ?? 5 }, log, opts.onQuery)
    t.teardown(async () => {
      await database.close()
      const a = new pg.Client({ connectionString: PG_ADMIN_URL })
      await a.connect()
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await a.end()
    })
    return database
  }
  const dir = mkdtempSync(join(tmpdir(), 'br-pglite-'))
  cpSync(PGLITE_TEMPLATE, dir, { recursive: true })
  const database = await openDatabase({ kind: 'pglite', dataDir: dir }, log, opts.onQuery)
  t.teardown(async () => {
    await database.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return database
}

/**
 * A database of its own on the machine's PostgreSQL (whichever variant runs), migrated
 * and seeded, dropped at the end: for tests that need a server (cutting connections).
 */
export async function machinePgDatabase (): Promise<{ name: string, url: string }> {
  const name = `br_test_${process.pid}_${randomBytes(3).toString('hex')}`
  const admin = new pg.Client({ connectionString: MACHINE_PG_URL })
  await admin.connect()
  const template = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [PG_TEMPLATE])).rowCount === 1
  await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${PG_TEMPLATE}` : ''}`)
  await admin.end()
  const url = withDatabase(MACHINE_PG_URL, name)
  if (!template) {
    const database = await openDatabase({ kind: 'postgres', url, poolMax: 1 }, { error: (obj: unknown) => { console.error(obj) } })
    await migrateAndSeed(database, { regionSeed: '4112' })
    await database.close()
  }
  t.teardown(async () => {
    const a = new pg.Client({ connectionString: MACHINE_PG_URL })
    await a.connect()
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await a.end()
  })
  return { name, url }
}

/** The test file's database, opened on first use and shared by its tests. */
export async function testDatabase (): Promise<Database> {
  shared ??= freshDatabase()
  return await shared
}

export interface TestApp {
  app: FastifyInstance
  database: Database
  /** Requests with a token for the given claims. */
  as: (claims: TokenClaims) => Client
  /** Waits until every audit entry committed so far has its position in the log (readers see only those). */
  sequenced: () => Promise<void>
}

export interface Client {
  token: string
  gql: <T = any>(query: string, variables?: Record<string, unknown>) => Promise<GqlResult<T>>
  get: (url: string) => Promise<LightMyRequestResponse>
  post: (url: string, body: unknown) => Promise<LightMyRequestResponse>
}

export interface GqlResult<T> {
  status: number
  data: T
  errors?: Array<{ message: string, path?: string[], extensions: { code: string, fields?: Array<{ path: string, message: string }> } }>
}

export async function token (claims: TokenClaims, expiresIn: string | number = '1h'): Promise<string> {
  return await mintToken({ secret: new TextEncoder().encode(TEST_SECRET), issuer: 'beneficiary-registry', audience: 'beneficiary-registry' }, claims, expiresIn)
}

/** Builds the real app over the file's database; closed when the test ends. */
export async function buildApp (test: { teardown: (fn: () => unknown) => void }, opts: { config?: Config, clock?: Clock, database?: Database, log?: (line: string) => void } = {}): Promise<TestApp> {
  const config = opts.config ?? testConfig()
  const database = opts.database ?? await testDatabase()
  const fastify = Fastify(testServerOptions(config, opts.log))
  await fastify.register(fp(app), { config, database, ...(opts.clock ? { clock: opts.clock } : {}) })
  await fastify.ready()
  test.teardown(async () => { await fastify.close() })
  const as = (claims: TokenClaims): Client => {
    let tokenValue = ''
    const ready = token(claims).then(v => { tokenValue = v })
    const headers = (): Record<string, string> => ({ authorization: `Bearer ${tokenValue}` })
    return {
      get token () { return tokenValue },
      async gql (query, variables) {
        await ready
        const res = await fastify.inject({ method: 'POST', url: '/graphql', headers: headers(), payload: { query, variables } })
        return { status: res.statusCode, ...res.json() }
      },
      async get (url) {
        await ready
        return await fastify.inject({ method: 'GET', url, headers: headers() })
      },
      async post (url, body) {
        await ready
        return await fastify.inject({ method: 'POST', url, headers: headers(), payload: body as Record<string, unknown> })
      }
    }
  }
  return { app: fastify, database, as, sequenced: async () => { await fastify.auditSequencer.settled() } }
}

/** A unique subject for a test's user. */
export const uniqueSub = (prefix = 'user'): string => `${prefix}-${randomUUID().slice(0, 8)}`

/**
 * A TCP proxy in front of the machine's PostgreSQL that the test can cut and restore
 * (`stop`, `start`), or make deaf: `hold` keeps what the server sends from reaching the
 * app until `resume` — a connection that died while idle is noticed only at its next use.
 */
export async function pgProxy (): Promise<{ port: number, stop: () => Promise<void>, start: () => Promise<void>, hold: () => void, resume: () => void }> {
  const target = new URL(MACHINE_PG_URL)
  const sockets = new Set<net.Socket>()
  let server: net.Server
  let port = 0
  // While held, what the server sends (and its end) waits here, per connection, in order.
  let held: Array<() => void> | null = null
  const later = (fn: () => void): void => { if (held === null) fn(); else held.push(fn) }
  const start = async (): Promise<void> => {
    server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname)
      for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()) }
      client.pipe(upstream)
      upstream.on('data', (data) => { later(() => client.write(data)) })
      upstream.on('close', () => { later(() => client.end()) })
    })
    await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
    port = (server.address() as net.AddressInfo).port
  }
  const stop = async (): Promise<void> => {
    for (const s of sockets) s.destroy()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }
  const hold = (): void => { held ??= [] }
  const resume = (): void => {
    const queued = held ?? []
    held = null
    for (const fn of queued) fn()
  }
  await start()
  return { get port () { return port }, start, stop, hold, resume }
}
