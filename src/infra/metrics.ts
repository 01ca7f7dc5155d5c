import fp from 'fastify-plugin'
import { sql } from 'drizzle-orm'
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { queryRows, type Database } from '../db/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The service's Prometheus registry, served at GET /metrics. Another module adds its
     * own metric by registering it here: `new Gauge({ name, help, registers: [app.metrics.registry], collect () { … } })`
     * (a `collect` runs at each scrape; it may be async).
     */
    metrics: { registry: Registry }
  }
}

/** Latency buckets in seconds: from a cached read (≈ 2 ms) to a long export page. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Distinct GraphQL operation names kept as labels; names beyond count as `other` (clients choose names: unbounded otherwise). */
export const MAX_OPERATION_NAMES = 200

/**
 * Prometheus metrics at GET /metrics (ADMIN users or METRICS_TOKEN, see auth): requests
 * per route and per GraphQL operation (count and latency), the database connections,
 * the import queue, and Node's process metrics. Everything is in this process: with
 * several replicas each is scraped on its own.
 */
export default fp<{ database: Database }>(async (app, opts) => {
  const registry = new Registry()
  app.decorate('metrics', { registry })
  collectDefaultMetrics({ register: registry })

  const requests = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route (the route pattern) and status: count (rate) and latency',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: BUCKETS,
    registers: [registry]
  })
  const operations = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'GraphQL operations by operation name and type and HTTP status: count (rate) and latency of the whole request',
    labelNames: ['operation', 'type', 'status_code'] as const,
    buckets: BUCKETS,
    registers: [registry]
  })
  const names = new Set<string>()
  app.addHook('onResponse', async (req, reply) => {
    const seconds = reply.elapsedTime / 1000
    const status = String(reply.statusCode)
    // The pattern, never the URL (ids would make a series each); requests matching no route share one.
    requests.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: status }, seconds)
    const op = req.graphqlOperation
    if (op != null) {
      if (!names.has(op.name) && names.size < MAX_OPERATION_NAMES) names.add(op.name)
      operations.observe({ operation: names.has(op.name) ? op.name : 'other', type: op.type, status_code: status }, seconds)
    }
  })

  const { database } = opts
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database connections by state: max (DATABASE_POOL_MAX; 1 for the embedded PGlite), total open, idle, and waiting (requests waiting for a connection)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect () {
      const c = database.connections()
      this.set({ state: 'max' }, c.max)
      this.set({ state: 'total' }, c.total)
      if (c.idle !== undefined) this.set({ state: 'idle' }, c.idle)
      if (c.waiting !== undefined) this.set({ state: 'waiting' }, c.waiting)
    }
  })

  // The import queue, read once per scrape (one statement on exchange_jobs_status_idx).
  interface QueueRow { status: string, jobs: number, bytes: string | number, rows: string | number, oldest: number | null }
  const STATES = ['receiving', 'queued', 'running'] as const
  let queue: { at: number, rows: Promise<QueueRow[] | null> } | null = null
  // The database unreachable: the import gauges are left out of the answer, the rest is served.
  const readQueue = async (): Promise<QueueRow[] | null> => await queryRows<QueueRow>(database.db, sql`
    SELECT status, count(*)::int AS jobs, coalesce(sum(bytes), 0) AS bytes, coalesce(sum(received), 0) AS rows,
           extract(epoch FROM now() - min(created_at))::float8 AS oldest
      FROM exchange_jobs WHERE status IN ('receiving', 'queued', 'running') GROUP BY status`)
    .catch((err: unknown) => { app.log.warn({ err }, 'metrics: the import queue could not be read'); return null })
  /** The gauges of one scrape share one read (kept for a second). */
  const queueNow = async (): Promise<QueueRow[] | null> => {
    if (queue === null || Date.now() - queue.at > 1000) queue = { at: Date.now(), rows: readQueue() }
    return await queue.rows
  }
  const byStatus = (rows: QueueRow[], status: string): QueueRow | undefined => rows.find(r => r.status === status)
  /** Sets a gauge from the queue, or leaves it out of this scrape when the queue could not be read. */
  const fromQueue = (set: (gauge: Gauge, rows: QueueRow[]) => void) => async function (this: Gauge): Promise<void> {
    const rows = await queueNow()
    if (rows === null) this.reset()
    else set(this, rows)
  }
  new Gauge({
    name: 'import_jobs',
    help: 'Import jobs not finished, by status: receiving (upload in progress), queued, running',
    labelNames: ['status'] as const,
    registers: [registry],
    collect: fromQueue((g, rows) => { for (const status of STATES) g.set({ status }, byStatus(rows, status)?.jobs ?? 0) })
  })
  new Gauge({
    name: 'import_pending_bytes',
    help: 'Bytes of the files of queued and running import jobs (their rows are counted only as they are parsed)',
    registers: [registry],
    collect: fromQueue((g, rows) => { g.set(Number(byStatus(rows, 'queued')?.bytes ?? 0) + Number(byStatus(rows, 'running')?.bytes ?? 0)) })
  })
  new Gauge({
    name: 'import_running_rows',
    help: 'Rows processed so far (committed: applied, unmatched or rejected) by the running import jobs',
    registers: [registry],
    collect: fromQueue((g, rows) => { g.set(Number(byStatus(rows, 'running')?.rows ?? 0)) })
  })
  new Gauge({
    name: 'import_oldest_queued_seconds',
    help: 'Age of the oldest queued import job (0: none queued)',
    registers: [registry],
    collect: fromQueue((g, rows) => { g.set(byStatus(rows, 'queued')?.oldest ?? 0) })
  })

  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
    return await reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'metrics', dependencies: ['auth'] })
