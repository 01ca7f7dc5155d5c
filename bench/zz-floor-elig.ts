/**
 * Eligibility-check benchmark: POST /eligibility with 100 national IDs per
 * request from 32 connections (autocannon), against the service on 127.0.0.1 over the
 * machine's PostgreSQL (database br_bench_elig, filled once with generateDemoData).
 *
 *   npm run bench:eligibility -- [--households 100000] [--connections 32] [--ids 100]
 *                                [--duration 30] [--registered 0.2] [--pool 10] [--fresh]
 *                                [--rate R]
 *
 * The server runs in its own process, so the load generator does not share its event
 * loop (it does share the machine's cores). Prints p50/p99 latency and requests/s, and
 * per request over the measured run: CPU of the server process and of the database's
 * backends (utime + stime from /proc), and the read audit's entries per group commit
 * (one INSERT each) and entries still waiting for the sequencer at the end.
 *
 * `--rate R` sends R requests a second in all instead of as many as the connections
 * can: below saturation the CPU per request is measured with less contention for the
 * cores, so two builds (BENCH_SERVER_ENTRY) can be compared on it run after run.
 */
import { randomInt } from 'node:crypto'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import type autocannon from 'autocannon'
import pg from 'pg'
import { BENCH_DATA_KEY, startProcess, benchDatabase, benchToken, cpuSecondsOf, load, registeredIds, startServer, unregisteredId } from './bench-server.js'

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '32' },
    ids: { type: 'string', default: '100' },
    duration: { type: 'string', default: '30' },
    registered: { type: 'string', default: '0.2' },
    pool: { type: 'string', default: '10' },
    port: { type: 'string', default: '3917' },
    rate: { type: 'string', default: '0' },
    fresh: { type: 'boolean', default: false }
  }
})
const CONNECTIONS = Number(values.connections)
const IDS = Number(values.ids)
const DURATION = Number(values.duration)
const REGISTERED_SHARE = Number(values.registered)
const RATE = Number(values.rate)

const url = await benchDatabase('br_bench_elig', Number(values.households), values.fresh)
const registered = await registeredIds(url, 20_000)
const bodies = Array.from({ length: 500 }, () => JSON.stringify({
  nationalIds: Array.from({ length: IDS }, () => (Math.random() < REGISTERED_SHARE ? registered[randomInt(registered.length)]! : unregisteredId()))
}))
const token = await benchToken({ sub: 'bench-hospital', role: 'EXCHANGE', region: '4112', dept: 'health' })
const server = await startProcess([...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(a => a !== ''), '--import', 'tsx', 'bench/raw-floor.ts'], Number(values.port), { DATABASE_URL: url, PORT: values.port, POOL_MAX: values.pool, NODE_ENV: 'production', DATA_KEY: BENCH_DATA_KEY }, '/readyz')
try {
  let next = 0
  const opts = (duration: number): autocannon.Options => ({
    url: `${server.base}/eligibility`,
    connections: CONNECTIONS,
    duration,
    ...(RATE > 0 ? { overallRate: RATE } : {}),
    requests: [{
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length]! })
    }]
  })
  await load(opts(5)) // warm-up
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  /** CPU seconds of the database's other backends so far. */
  const dbCpu = async (): Promise<number> => {
    const { rows } = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')
    return rows.reduce((sum, p) => sum + cpuSecondsOf(p.pid), 0)
  }
  const { rows: [last] } = await c.query<{ id: string }>('SELECT coalesce(max(id), 0) AS id FROM audit_events')
  const cpu0 = server.cpuSeconds()
  const own0 = process.cpuUsage()
  const db0 = await dbCpu()
  const r = await load(opts(DURATION))
  const cpu1 = server.cpuSeconds()
  const own = process.cpuUsage(own0)
  const db1 = await dbCpu()
  // The entries of one group commit are one INSERT: they share their transaction id.
  const { rows: [audit] } = await c.query<{ entries: string, commits: string }>(
    "SELECT count(*) AS entries, count(DISTINCT txid) AS commits FROM audit_events WHERE id > $1 AND action = 'eligibility.check'", [last!.id])
  const { rows: [pending] } = await c.query<{ n: string }>('SELECT count(*) AS n FROM audit_events e WHERE e.id > $1 AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.entry_id = e.id AND l.at = e.at)', [last!.id])
  const errors = r.errors + r.non2xx + r.timeouts
  const n = r.requests.total
  const { rows: [size] } = await c.query<{ h: string, m: string }>('SELECT (SELECT count(*) FROM households) AS h, (SELECT count(*) FROM members WHERE active) AS m')
  await c.end()
  const entries = Number(audit!.entries)
  const commits = Number(audit!.commits)
  console.log([
    `registry: ${size!.h} households, ${size!.m} active members (PostgreSQL, pool ${values.pool})`,
    `load: ${IDS} IDs per request (~${Math.round(REGISTERED_SHARE * 100)}% registered), ${CONNECTIONS} connections${RATE > 0 ? ` at ${RATE} requests/s in all` : ''}, ${DURATION} s after a 5 s warm-up`,
    `requests: ${r.requests.total} (${errors} errors/non-2xx/timeouts)`,
    `latency ms: p50 ${r.latency.p50}, p90 ${r.latency.p90}, p99 ${r.latency.p99}, max ${r.latency.max}`,
    `throughput: ${r.requests.average.toFixed(0)} req/s, ${(r.requests.average * IDS).toFixed(0)} IDs/s`,
    `per request: server CPU ${((cpu1 - cpu0) * 1000 / n).toFixed(2)} ms, PostgreSQL CPU ${((db1 - db0) * 1000 / n).toFixed(2)} ms, ` +
      `load generator (this process) CPU ${((own.user + own.system) / 1000 / n).toFixed(2)} ms`,
    `read audit: ${entries} entries in ${commits} group commits (${(entries / Math.max(1, commits)).toFixed(1)} each, one INSERT per commit); ` +
      `${pending!.n} not yet sequenced when the load stopped`,
    `load average at the end: ${loadavg().map(l => l.toFixed(2)).join(' ')}`
  ].join('\n'))
  if (errors > 0) process.exitCode = 1
} finally {
  await server.stop()
}
