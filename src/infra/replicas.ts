import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge } from 'prom-client'
import type { Config } from '../config.js'
import type { Database, Db } from '../db/index.js'
import { Replicas, type ReadRoute, type ReplicaStatus } from '../db/replicas.js'
import { operationKey } from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The read replicas (DATABASE_REPLICA_URLS); null without them (or on PGlite). */
    replicas: Replicas | null
  }
  interface FastifyRequest {
    /** Where this request's services read (a replica, for a request that changes nothing); null: the primary. */
    readDb: Db | null
  }
}

/** Requests that change nothing though they are not GETs: the eligibility check (a POST for its long list of IDs). */
const READING_POSTS = new Set(['POST /api/v1/eligibility'])

/** A REST request that changes nothing: it may read from a replica. (GraphQL: a query operation, see graphql.ts.) */
export function isReadingRoute (req: FastifyRequest): boolean {
  const url = req.routeOptions.url
  if (url === undefined || !url.startsWith('/api/')) return false
  return req.method === 'GET' || req.method === 'HEAD' || READING_POSTS.has(operationKey(req.method, url))
}

/** A request that may have written: a GraphQL mutation or a REST call other than the reading ones. */
function mayHaveWritten (req: FastifyRequest): boolean {
  if (req.routeOptions.url === '/graphql') return req.graphqlOperation?.type === 'mutation'
  return req.routeOptions.url?.startsWith('/api/') === true && !isReadingRoute(req) && req.method !== 'OPTIONS'
}

/**
 * Routes reads to the replicas (src/db/replicas.ts): a REST request that changes nothing
 * gets a replica before its handler (GraphQL queries in graphql.ts, before execution),
 * and after a request of a user that may have written, the primary's position is
 * remembered for that user before the answer leaves, so that the user's next read sees
 * the write. Probed from when the app is ready; closed with it. Reported in /readyz and
 * /metrics.
 */
export default fp<{ config: Config, database: Database }>(async (app, { config, database }) => {
  const replicas = Replicas.open(config, database, app.redis, app.log)
  app.decorate('replicas', replicas)
  app.decorateRequest('readDb', null)
  if (replicas === null) return

  app.addHook('onReady', async () => { await replicas.start() })
  app.addHook('onClose', async () => { await replicas.close() })
  app.addHook('preHandler', async (req) => {
    if (req.principal !== null && isReadingRoute(req)) req.readDb = await replicas.forRead(req.principal.sub)
  })
  app.addHook('onSend', async (req, _reply, payload) => {
    if (req.principal === null || !mayHaveWritten(req)) return payload
    // The primary unreachable just now: the answer still goes out (a write it reports did
    // commit), and the user's next reads are only as fresh as the replica (logged).
    await replicas.wrote(req.principal.sub).catch((err: unknown) => { req.log.warn({ err }, 'the write position could not be read from the primary: the user\'s next reads may not see the write') })
    return payload
  })

  new Gauge({
    name: 'db_replica_up',
    help: 'Per read replica: 1 while reads use it, 0 while it is skipped (down, or further behind than REPLICA_MAX_LAG_MS)',
    labelNames: ['replica'],
    registers: [app.metrics.registry],
    collect () { for (const r of replicas.status()) this.set({ replica: r.name }, r.state === 'streaming' ? 1 : 0) }
  })
  new Gauge({
    name: 'db_replica_lag_seconds',
    help: 'Per read replica: how far behind the primary it was at the last probe (absent while down)',
    labelNames: ['replica'],
    registers: [app.metrics.registry],
    collect () {
      this.reset()
      for (const r of replicas.status()) if (r.lagMs !== null) this.set({ replica: r.name }, r.lagMs / 1000)
    }
  })
  new Counter({
    name: 'db_reads_total',
    help: 'Requests that change nothing, by where they read: a replica (at once, or after waiting for it to replay the user\'s last write), or the primary (no replica usable, or none replayed the user\'s last write in time)',
    labelNames: ['route'],
    registers: [app.metrics.registry],
    collect () {
      this.reset()
      for (const [route, n] of Object.entries(replicas.routed) as Array<[ReadRoute, number]>) this.inc({ route }, n)
    }
  })
}, { name: 'replicas', dependencies: ['limits', 'auth', 'metrics'] })

export type { ReplicaStatus }
