/**
 * `npm run bench:write-cost` — what one write of scenario f costs, measured so that a
 * busy machine changes it little: CPU time, not throughput.
 *
 *   npm run bench:write-cost -- [--writes 4000] [--connections 4] [--households 20000] [--candidates ours,floor] [--pg-log FILE] [--no-statements]
 *
 * The same database and requests as `npm run bench:writes` (br_bench_writes;
 * `updateMember(id, { employmentMonths })` as an OPERATOR of the city against
 * bench/raw-floor.ts `POST /member/:id`). For each candidate: a warm-up of as many
 * writes, then `--writes` writes at `--connections`, and
 *   - the server process's CPU per write (utime + stime from /proc, what
 *     `process.cpuUsage()` reports inside it), the sequencer's work included;
 *   - the database backends' CPU per write;
 *   - SQL statements per write: a second start of the candidate with log_statement=all,
 *     200 writes one after another, the statements PostgreSQL logged for the database ÷
 *     200 (the sequencer's share included; BEGIN and COMMIT count).
 * `BENCH_NODE_ARGS=--cpu-prof` profiles the service (the profile is written at its exit).
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs'
import { loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { randomInt } from 'node:crypto'
import pg from 'pg'
import { benchDatabase, benchToken, cpuSecondsOf, load, startProcess, startServer, type BenchServer } from './bench-server.js'

const { values } = parseArgs({
  options: {
    writes: { type: 'string', default: '4000' },
    connections: { type: 'string', default: '4' },
    households: { type: 'string', default: '20000' },
    candidates: { type: 'string', default: 'ours,floor' },
    pool: { type: 'string', default: '20' },
    'pg-log': { type: 'string', default: '/var/log/postgresql/postgresql-15-main.log' },
    'no-statements': { type: 'boolean', default: false }
  }
})
const WRITES = Number(values.writes)
const CONNECTIONS = Number(values.connections)
const DB_NAME = 'br_bench_writes'

const url = await benchDatabase(DB_NAME, Number(values.households), false)
const admin = new pg.Client({ connectionString: url })
await admin.connect()
await admin.query('CREATE TABLE IF NOT EXISTS bench_floor_audit (LIKE audit_events INCLUDING DEFAULTS INCLUDING INDEXES)')
const memberIds = (await admin.query<{ id: string }>('SELECT id FROM members WHERE active ORDER BY random() LIMIT 20000')).rows.map(r => r.id)
const operator = `Bearer ${await benchToken({ sub: 'bench-clerk', role: 'OPERATOR', region: '4112' })}`
const MUTATION = 'mutation ($id: ID!, $m: Int!) { updateMember(id: $id, input: { employmentMonths: $m }) { id version } }'

type Candidate = 'ours' | 'floor'
const request = (c: Candidate): { method: 'POST', path: string, headers: Record<string, string>, body: string } => {
  const id = memberIds[randomInt(memberIds.length)]!
  const months = randomInt(13)
  if (c === 'ours') return { method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json', authorization: operator }, body: JSON.stringify({ query: MUTATION, variables: { id, m: months } }) }
  return { method: 'POST', path: `/member/${id}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ employmentMonths: months }) }
}

const start = async (c: Candidate, port: number, pgOptions?: string): Promise<BenchServer> => {
  const env: Record<string, string> = pgOptions !== undefined ? { PGOPTIONS: pgOptions } : {}
  return c === 'ours'
    ? await startServer(url, port, Number(values.pool), env)
    : await startProcess(['--import', 'tsx', 'bench/raw-floor.ts'], port, { DATABASE_URL: url, PORT: String(port), POOL_MAX: values.pool, ...env }, '/readyz')
}

async function backendCpu (): Promise<number> {
  const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')
  return rows.reduce((sum, r) => sum + cpuSecondsOf(r.pid), 0)
}

/** The kernel's share (stime) of a process's CPU so far, in seconds. */
function systemSecondsOf (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) / 100
}

async function writes (server: BenchServer, c: Candidate, amount: number): Promise<{ serverMs: number, systemMs: number, dbMs: number, errors: number, rps: number }> {
  const cpu0 = server.cpuSeconds()
  const sys0 = systemSecondsOf(server.child.pid!)
  const db0 = await backendCpu()
  const r = await load({ url: server.base, connections: CONNECTIONS, pipelining: 1, amount, requests: [{ setupRequest: (req) => ({ ...req, ...request(c) }) }] })
  // The sequencer's share of these writes: wait until it has caught up.
  await sleep(600)
  return { serverMs: (server.cpuSeconds() - cpu0) * 1000 / amount, systemMs: (systemSecondsOf(server.child.pid!) - sys0) * 1000 / amount, dbMs: (await backendCpu() - db0) * 1000 / amount, errors: r.errors + r.non2xx + r.timeouts, rps: r.requests.average }
}

function logged (from: number, to: number): number {
  const fd = openSync(values['pg-log'], 'r')
  try {
    const buf = Buffer.alloc(to - from)
    readSync(fd, buf, 0, buf.length, from)
    return buf.toString('utf8').split('\n').filter(l => l.includes(`@${DB_NAME} LOG:  statement: `) || l.includes(`@${DB_NAME} LOG:  execute `)).length
  } finally {
    closeSync(fd)
  }
}

/** Statements per write: K writes one after another with log_statement=all, minus what the server logs idle as long. */
async function statements (c: Candidate, port: number): Promise<number> {
  const K = 200
  const server = await start(c, port, '-c log_statement=all')
  try {
    const send = async (): Promise<void> => {
      const r = request(c)
      const res = await fetch(server.base + r.path, r)
      if (!res.ok) throw new Error(`${r.path} answered ${res.status}: ${await res.text()}`)
    }
    for (let i = 0; i < 20; i++) await send()
    await sleep(1000)
    const t0 = performance.now()
    const o0 = statSync(values['pg-log']).size
    for (let i = 0; i < K; i++) await send()
    await sleep(600)
    const o1 = statSync(values['pg-log']).size
    await sleep(performance.now() - t0)
    const o2 = statSync(values['pg-log']).size
    return Math.max(0, logged(o0, o1) - logged(o1, o2)) / K
  } finally {
    await server.stop()
  }
}

const rows: string[] = []
let port = 3971
for (const c of values.candidates.split(',') as Candidate[]) {
  const server = await start(c, port++)
  let run
  try {
    await writes(server, c, WRITES) // warm-up
    run = await writes(server, c, WRITES)
  } finally {
    await server.stop()
  }
  const perWrite = values['no-statements'] ? NaN : await statements(c, port++)
  const line = `| ${c} | ${run.serverMs.toFixed(3)} (${run.systemMs.toFixed(3)}) | ${run.dbMs.toFixed(3)} | ${perWrite.toFixed(2)} | ${run.rps.toFixed(0)} | ${run.errors} | ${loadavg()[0]!.toFixed(1)} |`
  console.log(line)
  rows.push(line)
}
await admin.end()
console.log(`\n${new Date().toISOString()}; ${WRITES} writes at ${CONNECTIONS} connections after as many to warm up\n`)
console.log('| candidate | server CPU ms/write (of which kernel) | PostgreSQL CPU ms/write | SQL statements/write | writes/s | errors | load average |')
console.log('|---|---|---|---|---|---|---|')
for (const r of rows) console.log(r)
