/**
 * `npm run bench:writes` — scenario f of issue 18: writes at 1, 16 and 64 connections.
 *
 *   npm run bench:writes -- [--duration 15] [--households 20000] [--connections 1,16,64] [--no-clerk] [--fresh]
 *
 * Dataset: database br_bench_writes on the machine's PostgreSQL, filled once by the demo
 * generator and reused. Candidates, each in its own process:
 *   ours        `updateMember(id, { employmentMonths })` (GraphQL, an OPERATOR of the city)
 *               on a random member: area rule, version, audit entry, as shipped
 *   floor       bench/raw-floor.ts `POST /member/:id`: the same UPDATE plus one INSERT of an
 *               audit entry per request (into a copy of audit_events), by hand with pg, no lock
 *   floor+lock  the same holding one global advisory lock to commit (the old audit chain's
 *               shape)
 * Then, on ours: the sequencing lag at the peak (the age of the oldest entry not yet
 * sequenced, sampled every 100 ms during the 64-connection run) and how long after the load
 * stops `pending` is back at 0; and a clerk's write p99 (4 connections) alone and while an
 * hr.employment import job runs.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { randomInt } from 'node:crypto'
import pg from 'pg'
import { memberWrite } from './scenarios.js'
import { benchDatabase, benchToken, jobState, load, registeredIds, startProcess, startServer, submitImportJob, writeEmploymentRows, type BenchServer } from './bench-server.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    households: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '1,16,64' },
    pool: { type: 'string', default: '20' },
    fresh: { type: 'boolean', default: false },
    'no-clerk': { type: 'boolean', default: false }
  }
})
const DURATION = Number(values.duration)
const CONNECTIONS = values.connections.split(',').map(Number)
const POOL = Number(values.pool)

const url = await benchDatabase('br_bench_writes', Number(values.households), values.fresh)
const admin = new pg.Client({ connectionString: url })
await admin.connect()
// The floor's entries go to a copy of the table (same columns, defaults and indexes) that no sequencer reads.
await admin.query('CREATE TABLE IF NOT EXISTS bench_floor_audit (LIKE audit_events INCLUDING DEFAULTS INCLUDING INDEXES)')
const memberIds = (await admin.query<{ id: string }>('SELECT id FROM members WHERE active ORDER BY random() LIMIT 20000')).rows.map(r => r.id)
const operator = `Bearer ${await benchToken({ sub: 'bench-clerk', role: 'OPERATOR', region: '4112' })}`
const hr = await benchToken({ sub: 'bench-hr', role: 'EXCHANGE', dept: 'hr', region: '4112' })

type Candidate = 'ours' | 'floor' | 'floor+lock'
const request = (c: Candidate): { method: 'POST', path: string, headers: Record<string, string>, body: string } => {
  const id = memberIds[randomInt(memberIds.length)]!
  const months = randomInt(13)
  if (c === 'ours') return memberWrite(operator, id, months)
  return { method: 'POST', path: `/member/${id}${c === 'floor+lock' ? '?lock=1' : ''}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ employmentMonths: months }) }
}

interface Run { rps: number, p50: number, p99: number, errors: number, cpuMs: number }
/** A timed run; `cpuMs`: the server process's CPU time per request. */
async function timed (server: BenchServer, c: Candidate, connections: number, duration: number): Promise<Run> {
  const cpu0 = server.cpuSeconds()
  const r = await load({ url: server.base, connections, pipelining: 1, duration, requests: [{ setupRequest: (req) => ({ ...req, ...request(c) }) }] })
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts, cpuMs: (server.cpuSeconds() - cpu0) * 1000 / Math.max(1, r.requests.total) }
}

/** The age of the oldest committed entry not yet in the log (0 when none), and how many. */
async function backlog (): Promise<{ ageMs: number, pending: number }> {
  const { rows: [r] } = await admin.query<{ age: number | null, n: number }>(`SELECT extract(epoch FROM now() - min(e.at)) * 1000 AS age, count(*)::int AS n
    FROM audit_events e, audit_sequencer s WHERE s.id = 1 AND (e.txid >= pg_snapshot_xmax(s.snapshot) OR e.txid IN (SELECT pg_snapshot_xip(s.snapshot)))
      AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.entry_id = e.id)`)
  return { ageMs: r?.n === 0 ? 0 : Number(r?.age ?? 0), pending: r?.n ?? 0 }
}

class Skip extends Error {}
const results: Array<{ c: Candidate, connections: number, run: Run }> = []
const ours = await startServer(url, 3961, POOL)
const floor = await startProcess(['--import', 'tsx', 'bench/raw-floor.ts'], 3962, { DATABASE_URL: url, PORT: '3962', POOL_MAX: String(POOL) }, '/readyz')
const startedAt = new Date()
let lag: { p99: number, max: number, drainMs: number } | null = null
let clerk: { alone: Run, importing: Run } | null = null
try {
  for (const c of ['ours', 'floor', 'floor+lock'] as const) await timed(c === 'ours' ? ours : floor, c, 16, 3) // warm-up
  for (const connections of CONNECTIONS) {
    for (const c of ['ours', 'floor', 'floor+lock'] as const) {
      const server = c === 'ours' ? ours : floor
      const sampling = c === 'ours' && connections === Math.max(...CONNECTIONS)
      const samples: number[] = []
      let sampler: Promise<void> = Promise.resolve()
      let running = true
      if (sampling) sampler = (async () => { while (running) { samples.push((await backlog()).ageMs); await sleep(100) } })()
      const run = await timed(server, c, connections, DURATION)
      running = false
      await sampler
      results.push({ c, connections, run })
      console.log(`  f ${c} at ${connections}: ${run.rps.toFixed(0)} writes/s, p50 ${run.p50} ms, p99 ${run.p99} ms, server CPU ${run.cpuMs.toFixed(2)} ms/write, ${run.errors} errors, load ${loadavg()[0]!.toFixed(1)}`)
      if (sampling) {
        const stopped = Date.now()
        while ((await backlog()).pending > 0 && Date.now() - stopped < 60_000) await sleep(50)
        const sorted = [...samples].sort((a, b) => a - b)
        lag = { p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0, max: sorted.at(-1) ?? 0, drainMs: Date.now() - stopped }
        console.log(`  sequencing at ${connections}: oldest pending entry p99 ${lag.p99.toFixed(0)} ms (max ${lag.max.toFixed(0)}), pending back at 0 ${lag.drainMs} ms after the load stopped`)
      }
    }
  }
  // A clerk's writes alone, then while an import job runs.
  if (values['no-clerk']) throw new Skip()
  const alone = await timed(ours, 'ours', 4, DURATION)
  const dir = mkdtempSync(join(tmpdir(), 'br-bench-writes-'))
  try {
    const file = (await writeEmploymentRows(dir, 400_000, await registeredIds(url, 20_000))).ndjson
    const job = await submitImportJob(ours.base, hr, 'hr.employment', file)
    await sleep(2000)
    const importing = await timed(ours, 'ours', 4, DURATION)
    const state = await jobState(ours.base, hr, job)
    console.log(`  clerk (4 connections): p99 ${alone.p99} ms alone, ${importing.p99} ms while the import runs (job ${state.status}, ${JSON.stringify(state.counts)})`)
    clerk = { alone, importing }
    if (state.status === 'running' || state.status === 'queued') {
      await ours.stop()
      await admin.query("UPDATE exchange_jobs SET status = 'failed' WHERE id = $1 AND status IN ('running', 'queued')", [job])
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
} catch (err) {
  if (!(err instanceof Skip)) throw err
} finally {
  await ours.stop().catch(() => {})
  await floor.stop()
  await admin.end()
}

console.log(`\n${startedAt.toISOString()}; ${values.households} households; ${DURATION} s per run; pool ${POOL}\n`)
console.log('| connections | ours writes/s (p99 ms) | floor writes/s (p99 ms) | floor + one global lock writes/s | ours ÷ floor |')
console.log('|---|---|---|---|---|')
const at = (c: Candidate, n: number): Run => results.find(r => r.c === c && r.connections === n)!.run
for (const n of CONNECTIONS) {
  console.log(`| ${n} | ${at('ours', n).rps.toFixed(0)} (${at('ours', n).p99}) | ${at('floor', n).rps.toFixed(0)} (${at('floor', n).p99}) | ${at('floor+lock', n).rps.toFixed(0)} | ${(at('ours', n).rps / at('floor', n).rps).toFixed(2)} |`)
}
if (CONNECTIONS.includes(1) && CONNECTIONS.includes(16)) console.log(`\nours at 16 ÷ ours at 1: ${(at('ours', 16).rps / at('ours', 1).rps).toFixed(2)} (goal ≥ 3); ours ÷ floor at 16: ${(at('ours', 16).rps / at('floor', 16).rps).toFixed(2)} (goal ≥ 0.5)`)
if (lag !== null) console.log(`sequencing lag p99 ${lag.p99.toFixed(0)} ms (goal < 1000); pending at 0 ${lag.drainMs} ms after the load (goal ≤ 5000)`)
if (clerk !== null) console.log(`clerk p99 while importing ÷ alone: ${(clerk.importing.p99 / clerk.alone.p99).toFixed(2)} (goal ≤ 2)`)
