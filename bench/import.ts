/**
 * Import benchmark (issue 5): a 1,000,000-row hr.employment file imported as a job by the
 * service, against a registry of 100,000 households on the machine's PostgreSQL,
 * compared with a plain COPY of the same rows into a staging table.
 *
 *   npm run bench:import -- [--rows 1000000] [--households 100000] [--batch 1000]
 *
 * Uses database br_bench_import on BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * filled once with the demo-data generator and reused. Reports rows/s, the server's peak
 * RSS and its RSS over time, and the ratio to COPY. BENCH_NODE_ARGS='--cpu-prof' profiles the server.
 */
import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { loadConfig } from '../src/config.js'
import { openDatabase, queryRows } from '../src/db/index.js'
import { generateDemoData } from '../src/db/demo-data.js'
import { migrateAndSeed } from '../src/infra/migrate.js'
import { mintToken } from '../src/infra/tokens.js'
import { nationalIdCheckDigit } from '../src/shared/national-id.js'
import { Sealer } from '../src/shared/sealing.js'
import { projectRoot } from '../src/paths.js'

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, households: { type: 'string', default: '100000' }, batch: { type: 'string', default: '1000' } } })
const ROWS = Number(values.rows)
const HOUSEHOLDS = Number(values.households)
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const DB_NAME = 'br_bench_import'
const SECRET = 'bench-secret-bench-secret-bench-secret!'
const DATA_KEY = Buffer.alloc(32, 42).toString('base64')
const PORT = 3917
const url = new URL(ADMIN_URL)
url.pathname = '/' + DB_NAME
const DB_URL = url.toString()

const log = { error: (o: unknown) => { console.error(o) }, info: () => {}, warn: (o: unknown) => { console.error(o) } }

async function ensureDatabase (): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB_NAME])
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${DB_NAME}`)
  await admin.end()
}

const env = { DATABASE_URL: DB_URL, JWT_SECRET: SECRET, DATA_KEY, DEMO_DATA: 'false', LOG_LEVEL: 'warn', PORT: String(PORT), IMPORT_BATCH_ROWS: values.batch! }

/** The registry (generated once) and the national IDs of its active members. */
async function registry (): Promise<string[]> {
  const config = loadConfig(env)
  const database = await openDatabase(config.database, log as never)
  await migrateAndSeed(database, config)
  const sealer = new Sealer(config.dataKey)
  const [count] = await queryRows<{ n: number }>(database.db, sql`SELECT count(*)::int AS n FROM households`)
  if (count!.n < HOUSEHOLDS) {
    const t0 = performance.now()
    const made = await generateDemoData(database.db, sealer, { households: HOUSEHOLDS - count!.n, region: '4112', seed: 5 })
    console.log(`generated ${made.households} households, ${made.members} members in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  }
  const ids = (await queryRows<{ s: string }>(database.db, sql`SELECT national_id_sealed AS s FROM members WHERE active ORDER BY id`)).map(r => sealer.open(r.s))
  await database.close()
  return ids
}

/** The same rows as NDJSON and CSV: 40 % registered members, 55 % unregistered persons, 5 % with a bad check digit. */
async function writeFiles (dir: string, registered: string[]): Promise<{ ndjson: string, csv: string }> {
  const ndjson = createWriteStream(join(dir, 'rows.ndjson'))
  const csv = createWriteStream(join(dir, 'rows.csv'))
  csv.write('national_id,employment,months,monthly_income\n')
  const employment = ['LOCAL', 'MIGRANT', 'PUBLIC_WELFARE_POST', 'SELF_EMPLOYED', 'UNEMPLOYED']
  let r = 0
  for (let i = 0; i < ROWS; i++) {
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

async function copyBaseline (file: string): Promise<number> {
  const client = new pg.Client({ connectionString: DB_URL })
  await client.connect()
  await client.query('DROP TABLE IF EXISTS bench_staging')
  await client.query('CREATE TABLE bench_staging (national_id text, employment text, months int, monthly_income numeric)')
  const t0 = performance.now()
  await pipeline(createReadStream(file), client.query(copyFrom('COPY bench_staging FROM STDIN (FORMAT csv, HEADER true)')))
  const seconds = (performance.now() - t0) / 1000
  await client.query('DROP TABLE bench_staging')
  await client.end()
  return seconds
}

const rssOf = (pid: number, field: 'VmRSS' | 'VmHWM'): number => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) / 1024
}

async function serviceImport (file: string): Promise<{ seconds: number, uploadSeconds: number, peakMiB: number, samples: number[], counts: unknown }> {
  // BENCH_NODE_ARGS adds options to the server's node, e.g. --cpu-prof to profile it.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
  const server = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/server.ts'], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${PORT}/readyz`).then(r => r.ok, () => false)
      if (ok) break
      if (i > 300) throw new Error('the server did not start')
      await sleep(100)
    }
    const token = await mintToken({ secret: new TextEncoder().encode(SECRET), issuer: 'beneficiary-registry', audience: 'beneficiary-registry' },
      { sub: 'bench-hr', role: 'EXCHANGE', dept: 'hr', region: '4112' }, '2h')
    const samples: number[] = []
    const sampler = setInterval(() => { samples.push(Math.round(rssOf(server.pid!, 'VmRSS'))) }, 1000)
    const t0 = performance.now()
    const res = await fetch(`http://127.0.0.1:${PORT}/api/v1/exchange/jobs?kind=hr.employment`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      body: createReadStream(file) as unknown as ReadableStream,
      duplex: 'half'
    } as RequestInit)
    const job = await res.json() as { id: string }
    const uploadSeconds = (performance.now() - t0) / 1000
    let state: { status: string, counts: unknown }
    for (;;) {
      state = await (await fetch(`http://127.0.0.1:${PORT}/api/v1/exchange/jobs/${job.id}`, { headers: { authorization: `Bearer ${token}` } })).json() as typeof state
      if (state.status === 'succeeded' || state.status === 'failed') break
      await sleep(200)
    }
    const seconds = (performance.now() - t0) / 1000
    clearInterval(sampler)
    if (state.status !== 'succeeded') throw new Error(`the job ${state.status}`)
    return { seconds, uploadSeconds, peakMiB: Math.round(rssOf(server.pid!, 'VmHWM')), samples, counts: state.counts }
  } finally {
    server.kill('SIGTERM')
    await once(server, 'exit')
  }
}

await ensureDatabase()
const registered = await registry()
const dir = mkdtempSync(join(tmpdir(), 'br-bench-import-'))
try {
  const files = await writeFiles(dir, registered)
  console.log(`file: ${ROWS} rows, ${(statSync(files.ndjson).size / 1048576).toFixed(0)} MiB NDJSON; registry: ${registered.length} active members`)
  const copySeconds = await copyBaseline(files.csv)
  const ours = await serviceImport(files.ndjson)
  const copyRate = ROWS / copySeconds
  const ourRate = ROWS / ours.seconds
  console.log(JSON.stringify({ rows: ROWS, counts: ours.counts, copySeconds: +copySeconds.toFixed(2), copyRowsPerSecond: Math.round(copyRate), ourSeconds: +ours.seconds.toFixed(1), uploadSeconds: +ours.uploadSeconds.toFixed(1), ourRowsPerSecond: Math.round(ourRate), ratioToCopy: +(ourRate / copyRate).toFixed(3), peakRssMiB: ours.peakMiB, rssSamplesMiB: ours.samples }, null, 2))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
