/**
 * `npm run bench:scale` — issue 19 item 5: the same requests at growing registries, on the
 * same machine; what matters is how each figure grows, not its absolute value.
 *
 *   npm run bench:scale -- [--sizes 100000,1000000,10000000] [--duration 10] [--warmup 3] [--rounds 2]
 *                          [--connections 16] [--elig-connections 32] [--write-connections 16]
 *                          [--export-households 20000] [--pool 10] [--port N] [--fill-only] [--drop]
 *
 * Per size a database of its own on the machine's PostgreSQL (BENCH_DATABASE_URL's
 * server), br_scale_100k, br_scale_1m, br_scale_10m, filled once by the fast generator
 * (bench/scale-data.ts: the demo generator's households over COPY, 三门峡市's 1,381
 * villages) and reused while its comment says the fill finished. Then, against the
 * service started as shipped (bench-server.ts), one size after another:
 *   a, b, c, d  the reads of bench/compare.ts (bench/scenarios.ts), --rounds × --duration s each
 *   export      GET /api/v1/households/export of the whole city (ADMIN), NDJSON: the time to
 *               its first byte and households/s over its first --export-households households
 *   f           bench/writes.ts's write (updateMember of a random member) at --write-connections
 * and the database's size on disk (pg_database_size; per table with its indexes and TOAST),
 * per million households. The load average (1 min) is recorded with every figure: the
 * machine is shared. Each size's figures are kept in bench/.data/scale-results.json; the
 * report shows every size measured so far, and the ratios to the smallest.
 * --fill-only fills (and measures the size of) the databases without the requests;
 * --drop drops each database after its measurement.
 */
import { createServer } from 'node:net'
import { once } from 'node:events'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { randomInt } from 'node:crypto'
import type autocannon from 'autocannon'
import pg from 'pg'
import { openDatabase } from '../src/db/index.js'
import { migrateAndSeed } from '../src/infra/migrate.js'
import { refreshSummary } from '../src/modules/statistics/statistics-service.js'
import { projectRoot } from '../src/paths.js'
import { benchToken, cpuSecondsOf, databaseUrl, load, sealer, startServer, unregisteredId, type BenchServer } from './bench-server.js'
import { fillRegistry, type FillResult } from './scale-data.js'
import { memberWrite, readRequest, type ReadInputs, type ReadScenario, type Request } from './scenarios.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000,10000000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
    'elig-connections': { type: 'string', default: '32' },
    'write-connections': { type: 'string', default: '16' },
    'export-households': { type: 'string', default: '20000' },
    pool: { type: 'string', default: '10' },
    port: { type: 'string', default: '' },
    'fill-only': { type: 'boolean', default: false },
    drop: { type: 'boolean', default: false }
  }
})
const SIZES = values.sizes.split(',').map(Number)
const DURATION = Number(values.duration)
const WARMUP = Number(values.warmup)
const ROUNDS = Number(values.rounds)
const CONNECTIONS = Number(values.connections)
const ELIG_CONNECTIONS = Number(values['elig-connections'])
const WRITE_CONNECTIONS = Number(values['write-connections'])
const EXPORT_HOUSEHOLDS = Number(values['export-households'])
const POOL = Number(values.pool)
const YEAR = 2020
const SEED = 1
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const RESULTS = join(projectRoot, 'bench', '.data', 'scale-results.json')
const TABLES = ['households', 'members', 'incomes', 'measures', 'exit_reviews', 'exit_review_steps', 'household_status_changes', 'audit_events', 'audit_log']
const log = { error: (o: unknown) => { console.error(o) } }
if (SIZES.some(n => !Number.isInteger(n) || n < 1000)) throw new Error('--sizes: whole numbers of households ≥ 1000')

const label = (n: number): string => n % 1_000_000 === 0 ? `${n / 1_000_000}m` : n % 1000 === 0 ? `${n / 1000}k` : String(n)
const load1 = (): number => loadavg()[0]!
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }

interface Run { rps: number, p50: number, p99: number, errors: number, serverCpuMs: number, dbCpuMs: number, load1: number }
interface SizeResult {
  households: number
  at: string
  fill?: FillResult & { seconds: number, load1: number }
  summarySeconds?: number
  databaseBytes: number
  tableBytes: Record<string, number>
  reads?: Record<ReadScenario, Run>
  exportRun?: { firstByteMs: number, householdsPerSecond: number, mbPerSecond: number, load1: number }
  write?: Run
}

/** A port nobody listens on now (the machine is shared: another engineer's benchmark may hold a fixed one). */
async function freePort (): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  srv.close()
  await once(srv, 'close')
  return port
}

// ─── the database of a size ─────────────────────────────────────────────────────
async function adminQuery<T extends pg.QueryResultRow> (text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: ADMIN_URL })
  await c.connect()
  try { return (await c.query<T>(text, params)).rows } finally { await c.end() }
}

/** The database of `n` households, filled unless its comment says an earlier run filled it. */
async function scaleDatabase (n: number): Promise<{ url: string, fill?: SizeResult['fill'] }> {
  const name = `br_scale_${label(n)}`
  const url = databaseUrl(name)
  const done = `scale fill: ${n} households, seed ${SEED}, year ${YEAR}`
  const [row] = await adminQuery<{ comment: string | null }>("SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1", [name])
  if (row?.comment === done) { console.log(`${name}: filled by an earlier run, reused`); return { url } }
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await adminQuery(`CREATE DATABASE ${name}`)
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 2 }, log)
  try { await migrateAndSeed(database, { regionSeed: '4112' }) } finally { await database.close() }
  const started = performance.now()
  console.log(`${name}: filling with ${n} households (load ${load1().toFixed(1)})`)
  const fill = await fillRegistry(url, sealer, {
    households: n,
    seed: SEED,
    year: YEAR,
    progress: (done, s) => { if (done % 500_000 === 0 || done === n) console.log(`  ${done} households in ${s.toFixed(0)} s (${(done / s).toFixed(0)}/s, load ${load1().toFixed(1)})`) },
    index: (statement, s) => { console.log(`  ${s.toFixed(0)} s: ${statement.slice(0, 100)}`) }
  })
  const seconds = (performance.now() - started) / 1000
  console.log(`  filled in ${seconds.toFixed(0)} s: rows ${fill.loadSeconds.toFixed(0)} s, keys and indexes ${fill.indexSeconds.toFixed(0)} s, VACUUM ANALYZE ${fill.analyzeSeconds.toFixed(0)} s; ` +
    `${fill.members} members, ${fill.incomes} incomes, ${fill.measures} measures, ${fill.exitReviews} exits`)
  await adminQuery(`COMMENT ON DATABASE ${name} IS '${done}'`)
  return { url, fill: { ...fill, seconds, load1: load1() } }
}

async function diskUsage (url: string): Promise<{ databaseBytes: number, tableBytes: Record<string, number> }> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const [db] = (await c.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n')).rows
    const rows = (await c.query<{ t: string, n: string }>('SELECT t, pg_total_relation_size(t::regclass) AS n FROM unnest($1::text[]) t', [TABLES])).rows
    return { databaseBytes: Number(db!.n), tableBytes: Object.fromEntries(rows.map(r => [r.t, Number(r.n)])) }
  } finally {
    await c.end()
  }
}

// ─── the requests ───────────────────────────────────────────────────────────────
async function measure (url: string, n: number, result: SizeResult): Promise<void> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  const q = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> => (await c.query<T>(text, params)).rows
  // Inputs drawn at random pages (TABLESAMPLE SYSTEM), not by sorting the whole table.
  const pct = (want: number, rows: number): number => Math.min(100, (want * 5 * 100) / rows)
  const householdIds = (await q<{ id: string }>(`SELECT id FROM households TABLESAMPLE SYSTEM (${pct(2000, n)}) LIMIT 2000`)).map(r => r.id)
  const sampled = await q<{ id: string, sealed: string }>(`SELECT id, national_id_sealed AS sealed FROM members TABLESAMPLE SYSTEM (${pct(20000, n * 3)})
    WHERE active AND deceased_at IS NULL LIMIT 20000`)
  const registered = sampled.map(r => sealer.open(r.sealed))
  const memberIds = sampled.map(r => r.id)
  const townships = (await q<{ code: string }>("SELECT code FROM regions WHERE code LIKE '4112%' AND length(code) = 9 ORDER BY code")).map(r => r.code)
  const counties = (await q<{ code: string }>("SELECT code FROM regions WHERE code LIKE '4112%' AND length(code) = 6 ORDER BY code")).map(r => r.code)
  const eligBodies = Array.from({ length: 500 }, () => JSON.stringify({
    nationalIds: Array.from({ length: 100 }, () => (Math.random() < 0.2 ? registered[randomInt(registered.length)]! : unregisteredId()))
  }))
  const operator = `Bearer ${await benchToken({ sub: 'bench-operator', role: 'OPERATOR', region: '4112' })}`
  const inputs: ReadInputs = {
    householdIds,
    townships,
    counties,
    eligBodies,
    year: YEAR,
    operator,
    viewer: `Bearer ${await benchToken({ sub: 'bench-viewer', role: 'VIEWER', region: '4112' })}`,
    hospital: `Bearer ${await benchToken({ sub: 'bench-hospital', role: 'EXCHANGE', region: '4112', dept: 'health' })}`
  }
  const admin = await benchToken({ sub: 'bench-sync', role: 'ADMIN', region: '4112' })

  const backendCpu = async (): Promise<Map<number, number>> => {
    const pids = await q<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')
    return new Map(pids.map(r => [r.pid, cpuSecondsOf(r.pid)]))
  }
  const timed = async (server: BenchServer, connections: number, duration: number, request: (i: number) => Request): Promise<Run> => {
    let i = 0
    const opts: autocannon.Options = { url: server.base, connections, pipelining: 1, duration, requests: [{ setupRequest: (req) => ({ ...req, ...request(i++) }) }] }
    const cpu0 = server.cpuSeconds()
    const db0 = await backendCpu()
    const r = await load(opts)
    const cpu1 = server.cpuSeconds()
    const db1 = await backendCpu()
    let dbCpu = 0
    for (const [pid, t] of db1) dbCpu += t - (db0.get(pid) ?? 0)
    const total = Math.max(1, r.requests.total)
    return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts, serverCpuMs: (cpu1 - cpu0) * 1000 / total, dbCpuMs: dbCpu * 1000 / total, load1: load1() }
  }
  const show = (what: string, r: Run): void => {
    console.log(`  ${what}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, CPU ${r.serverCpuMs.toFixed(2)} ms/req (db ${r.dbCpuMs.toFixed(2)}), ${r.errors} errors, load ${r.load1.toFixed(1)}`)
  }

  const server = await startServer(url, values.port !== '' ? Number(values.port) : await freePort(), POOL)
  try {
    // Every read answers before it is timed (a wrong request would time errors).
    for (const s of ['a', 'b', 'c', 'd'] as const) {
      const r = readRequest(inputs, s, 0)
      const res = await fetch(server.base + r.path, { method: r.method, headers: r.headers, body: r.body })
      const text = await res.text()
      if (!res.ok || text.includes('"errors"')) throw new Error(`scenario ${s} answered ${res.status}: ${text.slice(0, 300)}`)
    }
    const reads = {} as Record<ReadScenario, Run>
    for (const s of ['a', 'b', 'c', 'd'] as const) {
      const connections = s === 'c' ? ELIG_CONNECTIONS : CONNECTIONS
      await timed(server, connections, WARMUP, i => readRequest(inputs, s, i))
      const runs: Run[] = []
      for (let k = 0; k < ROUNDS; k++) { const r = await timed(server, connections, DURATION, i => readRequest(inputs, s, i)); show(s, r); runs.push(r) }
      const mid = runs.find(r => r.rps === median(runs.map(x => x.rps)))!
      reads[s] = mid
    }
    result.reads = reads

    // The export: time to the first byte, then the rate over its first EXPORT_HOUSEHOLDS households.
    const abort = new AbortController()
    const started = performance.now()
    const res = await fetch(`${server.base}/api/v1/households/export?region=4112`, { headers: { authorization: `Bearer ${admin}`, accept: 'application/x-ndjson' }, signal: abort.signal })
    if (!res.ok || res.body === null) throw new Error(`export answered ${res.status}`)
    let firstByteMs = 0
    let lines = 0
    let bytes = 0
    let t0 = 0
    try {
      for await (const chunk of res.body) {
        if (firstByteMs === 0) { firstByteMs = performance.now() - started; t0 = performance.now() }
        bytes += chunk.length
        for (const b of chunk) if (b === 10) lines++
        if (lines >= EXPORT_HOUSEHOLDS) { abort.abort(); break }
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err
    }
    const seconds = (performance.now() - t0) / 1000
    result.exportRun = { firstByteMs, householdsPerSecond: lines / seconds, mbPerSecond: bytes / 1e6 / seconds, load1: load1() }
    console.log(`  export: first byte after ${firstByteMs.toFixed(0)} ms, ${lines} households in ${seconds.toFixed(1)} s (${result.exportRun.householdsPerSecond.toFixed(0)}/s, ` +
      `${result.exportRun.mbPerSecond.toFixed(1)} MB/s), load ${result.exportRun.load1.toFixed(1)}`)
    await sleep(500)

    // Scenario f: writes.
    const write = (_: number): Request => memberWrite(operator, memberIds[randomInt(memberIds.length)]!, randomInt(13))
    await timed(server, WRITE_CONNECTIONS, WARMUP, write)
    const runs: Run[] = []
    for (let k = 0; k < ROUNDS; k++) { const r = await timed(server, WRITE_CONNECTIONS, DURATION, write); show('f', r); runs.push(r) }
    result.write = runs.find(r => r.rps === median(runs.map(x => x.rps)))!
  } finally {
    await sleep(500)
    await server.stop()
    await c.end()
  }
}

// ─── run ────────────────────────────────────────────────────────────────────────
mkdirSync(join(projectRoot, 'bench', '.data'), { recursive: true })
const saved: Record<string, SizeResult> = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, SizeResult> : {}
for (const n of SIZES) {
  const { url, fill } = await scaleDatabase(n)
  const result: SizeResult = { households: n, at: new Date().toISOString(), ...(fill !== undefined ? { fill } : saved[String(n)]?.fill !== undefined ? { fill: saved[String(n)]!.fill } : {}), databaseBytes: 0, tableBytes: {} }
  {
    // Statistics read a summary: built now, so that no timed request pays for the rebuild.
    const database = await openDatabase({ kind: 'postgres', url, poolMax: 2 }, log)
    const t = performance.now()
    try { await refreshSummary(database.db, '4112', new Date().getUTCFullYear()) } finally { await database.close() }
    result.summarySeconds = (performance.now() - t) / 1000
    console.log(`  statistics summary built in ${result.summarySeconds.toFixed(1)} s`)
  }
  Object.assign(result, await diskUsage(url))
  console.log(`  on disk: ${(result.databaseBytes / 2 ** 30).toFixed(2)} GiB (${(result.databaseBytes / 2 ** 30 / (n / 1e6)).toFixed(2)} GiB per million households)`)
  if (!values['fill-only']) await measure(url, n, result)
  else if (saved[String(n)] !== undefined) Object.assign(result, { reads: saved[String(n)]!.reads, exportRun: saved[String(n)]!.exportRun, write: saved[String(n)]!.write })
  saved[String(n)] = result
  writeFileSync(RESULTS, JSON.stringify(saved, null, 2))
  if (values.drop) { await adminQuery(`DROP DATABASE IF EXISTS br_scale_${label(n)} WITH (FORCE)`); console.log(`  br_scale_${label(n)} dropped`) }
}

// ─── report ─────────────────────────────────────────────────────────────────────
const all = Object.values(saved).sort((a, b) => a.households - b.households)
const base = all.find(r => r.reads !== undefined)
const gib = (b: number): string => (b / 2 ** 30).toFixed(2)
console.log(`\nconnections ${CONNECTIONS} (c: ${ELIG_CONNECTIONS}, f: ${WRITE_CONNECTIONS}); pool ${POOL}; ${ROUNDS} rounds of ${DURATION} s after ${WARMUP} s (the median round); load average (1 min) in brackets\n`)
console.log('| households | a req/s (p99 ms) | b | c | d | export households/s (first byte ms) | f writes/s (p99 ms) | database GiB | GiB per million |')
console.log('|---|---|---|---|---|---|---|---|---|')
const cell = (r: Run | undefined): string => r === undefined ? '' : `${r.rps.toFixed(0)} (${r.p99}) [${r.load1.toFixed(1)}]`
for (const r of all) {
  console.log(`| ${r.households.toLocaleString('en')} | ${cell(r.reads?.a)} | ${cell(r.reads?.b)} | ${cell(r.reads?.c)} | ${cell(r.reads?.d)} | ` +
    `${r.exportRun === undefined ? '' : `${r.exportRun.householdsPerSecond.toFixed(0)} (${r.exportRun.firstByteMs.toFixed(0)}) [${r.exportRun.load1.toFixed(1)}]`} | ${cell(r.write)} | ` +
    `${gib(r.databaseBytes)} | ${gib(r.databaseBytes / (r.households / 1e6))} |`)
}
if (base !== undefined) {
  console.log(`\nratios to ${base.households.toLocaleString('en')} households: throughput base ÷ size (> 1 is slower); p99 and CPU per request (server + PostgreSQL) size ÷ base\n`)
  console.log('| households | a | b | c | d | export | f |')
  console.log('|---|---|---|---|---|---|---|')
  const ratio = (x: Run | undefined, y: Run | undefined): string => x === undefined || y === undefined
    ? ''
    : `${(y.rps / x.rps).toFixed(2)} (p99 ${(x.p99 / y.p99).toFixed(2)}, CPU ${((x.serverCpuMs + x.dbCpuMs) / (y.serverCpuMs + y.dbCpuMs)).toFixed(2)})`
  for (const r of all.filter(r => r.reads !== undefined)) {
    console.log(`| ${r.households.toLocaleString('en')} | ${(['a', 'b', 'c', 'd'] as const).map(s => ratio(r.reads?.[s], base.reads?.[s])).join(' | ')} | ` +
      `${r.exportRun === undefined || base.exportRun === undefined ? '' : (base.exportRun.householdsPerSecond / r.exportRun.householdsPerSecond).toFixed(2)} | ${ratio(r.write, base.write)} |`)
  }
}
console.log('\nper table (GiB per million households, with indexes and TOAST)')
for (const r of all) console.log(`  ${r.households.toLocaleString('en')}: ${Object.entries(r.tableBytes).map(([t, b]) => `${t} ${gib(b / (r.households / 1e6))}`).join(', ')}`)
const cores = all.filter(r => r.reads !== undefined).at(-1)
if (cores?.reads !== undefined) {
  console.log(`\nrequests/s per core at ${cores.households.toLocaleString('en')} households (1000 ÷ (server + PostgreSQL CPU ms per request)): ` +
    [...(['a', 'b', 'c', 'd'] as const).map(s => [s, cores.reads![s]] as const), ...(cores.write !== undefined ? [['f', cores.write] as const] : [])]
      .map(([s, r]) => `${s} ${(1000 / (r.serverCpuMs + r.dbCpuMs)).toFixed(0)}`).join(', '))
}
