/**
 * Eligibility-check benchmark: POST /api/v1/eligibility with 100 national IDs per
 * request from 32 connections (autocannon), against the service on 127.0.0.1 over the
 * machine's PostgreSQL (database br_bench_elig, filled once with generateDemoData).
 *
 *   npm run bench:eligibility -- [--households 100000] [--connections 32] [--ids 100]
 *                                [--duration 30] [--registered 0.2] [--pool 10] [--fresh]
 *
 * The server runs in its own process, so the load generator does not share its event
 * loop (it does share the machine's cores). Prints p50/p99 latency and requests/s.
 */
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import type autocannon from 'autocannon'
import pg from 'pg'
import { benchDatabase, benchToken, load, registeredIds, startServer, unregisteredId } from './bench-server.js'

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '32' },
    ids: { type: 'string', default: '100' },
    duration: { type: 'string', default: '30' },
    registered: { type: 'string', default: '0.2' },
    pool: { type: 'string', default: '10' },
    port: { type: 'string', default: '3917' },
    fresh: { type: 'boolean', default: false }
  }
})
const CONNECTIONS = Number(values.connections)
const IDS = Number(values.ids)
const DURATION = Number(values.duration)
const REGISTERED_SHARE = Number(values.registered)

const url = await benchDatabase('br_bench_elig', Number(values.households), values.fresh)
const registered = await registeredIds(url, 20_000)
const bodies = Array.from({ length: 500 }, () => JSON.stringify({
  nationalIds: Array.from({ length: IDS }, () => (Math.random() < REGISTERED_SHARE ? registered[randomInt(registered.length)]! : unregisteredId()))
}))
const token = await benchToken({ sub: 'bench-hospital', role: 'EXCHANGE', region: '4112', dept: 'health' })
const server = await startServer(url, Number(values.port), Number(values.pool))
try {
  let next = 0
  const opts = (duration: number): autocannon.Options => ({
    url: `${server.base}/api/v1/eligibility`,
    connections: CONNECTIONS,
    duration,
    requests: [{
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length]! })
    }]
  })
  await load(opts(5)) // warm-up
  const r = await load(opts(DURATION))
  const errors = r.errors + r.non2xx + r.timeouts
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  const { rows: [size] } = await c.query<{ h: string, m: string }>('SELECT (SELECT count(*) FROM households) AS h, (SELECT count(*) FROM members WHERE active) AS m')
  await c.end()
  console.log([
    `registry: ${size!.h} households, ${size!.m} active members (PostgreSQL, pool ${values.pool})`,
    `load: ${IDS} IDs per request (~${Math.round(REGISTERED_SHARE * 100)}% registered), ${CONNECTIONS} connections, ${DURATION} s after a 5 s warm-up`,
    `requests: ${r.requests.total} (${errors} errors/non-2xx/timeouts)`,
    `latency ms: p50 ${r.latency.p50}, p90 ${r.latency.p90}, p99 ${r.latency.p99}, max ${r.latency.max}`,
    `throughput: ${r.requests.average.toFixed(0)} req/s, ${(r.requests.average * IDS).toFixed(0)} IDs/s`
  ].join('\n'))
  if (errors > 0) process.exitCode = 1
} finally {
  await server.stop()
}
