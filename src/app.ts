import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import cors from '@fastify/cors'
import helmet, { type HelmetOptions } from 'helmet'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'
import { openDatabase, type Database } from './db/index.js'
import auth from './infra/auth.js'
import db from './infra/db.js'
import graphql from './infra/graphql.js'
import health from './infra/health.js'
import httpErrors, { clientError, frameworkError } from './infra/http-errors.js'
import limits from './infra/limits.js'
import metrics from './infra/metrics.js'
import { loggerOptions } from './infra/logger.js'
import openapi from './infra/openapi.js'
import replicas from './infra/replicas.js'
import { registerAuditMetrics } from './modules/audit/audit-metrics.js'
import { auditKeys } from './modules/audit/audit-routes.js'
import { AuditSequencer } from './modules/audit/audit-sequencer.js'
import { ImportRunner } from './modules/imports/imports-runner.js'
import { restRoutes } from './modules/index.js'
import { createRegionDirectory } from './modules/regions/regions-service.js'
import type { Clock } from './shared/context.js'
import { DailyCounter } from './shared/daily-counter.js'
import { Sealer } from './shared/sealing.js'

/** A client's request id that is kept: at most 128 characters of a safe set. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Text answers longer than this (characters) are sent as one UTF-8 buffer. */
const LARGE_TEXT = 16_384

export interface AppOptions {
  config: Config
  /** An already open database (tests); otherwise the app opens one from config and closes it on close. */
  database?: Database
  clock?: Clock
}

declare module 'fastify' {
  interface FastifyInstance {
    auditSequencer: AuditSequencer
  }
}

/** Fastify server options shared by server.ts and the tests. */
export function serverOptions (config: Config): FastifyServerOptions {
  return {
    logger: loggerOptions(config),
    // A gateway's x-request-id is kept only when short and plain (it is logged and echoed); else a new one.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    clientErrorHandler: clientError,
    // A number of hops is accepted at run time (fastify.js), though fastify's types omit it.
    trustProxy: config.trustProxy as FastifyServerOptions['trustProxy'],
    // Every body but the import upload's (its route streams it, up to IMPORT_MAX_MB).
    bodyLimit: config.bodyLimitBytes,
    // Time to receive a whole request (slow senders), and a socket's idle time (slow readers).
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: config.connectionTimeoutMs,
    // Node enforces the request timeout only when the headers' own (60 s) is not longer.
    ...(config.requestTimeoutMs > 0 && config.requestTimeoutMs < 60_000 ? { http: { headersTimeout: config.requestTimeoutMs } } : {}),
    frameworkErrors: frameworkError,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } }
  }
}

/** How long closing waits for requests in flight before it cuts their connections (within `server.ts`'s 10 s). */
export const CLOSE_GRACE_MS = 5_000

/** The whole service as one Fastify plugin: infrastructure, then modules. */
export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const { config } = opts
  const database = opts.database ?? await openDatabase(config.database, fastify.log)
  await fastify.register(db, { database, closeDatabase: opts.database === undefined })
  fastify.decorate('deps', { db: database.db, primary: database.db, config, clock: opts.clock ?? (() => new Date()), sealer: new Sealer(config.dataKey), registrationRefusals: new DailyCounter() })

  // The background worker of import jobs: started once the app is ready, stopped before it closes.
  const imports = new ImportRunner({ ...fastify.deps, log: fastify.log })
  fastify.decorate('wakeImports', () => { imports.wake() })
  fastify.addHook('onReady', async () => { imports.start() })
  fastify.addHook('preClose', async () => { await imports.stop() })
  // The audit log's sequencer: runs in every process, works in the one holding its lock.
  const sequencer = new AuditSequencer({ database, config, clock: fastify.deps.clock, log: fastify.log })
  fastify.decorate('auditSequencer', sequencer)
  fastify.addHook('onReady', async () => { sequencer.start() })
  fastify.addHook('preClose', async () => { await sequencer.stop() })
  // Closing waits for the requests in flight. A client that keeps its connection but stops
  // sending a body, or stops reading a streamed answer (an export), would hold the close
  // until its request timed out (minutes), and the process would be killed before the
  // database was closed: after CLOSE_GRACE_MS the connections left are cut.
  fastify.addHook('preClose', async () => { setTimeout(() => { fastify.server.closeAllConnections() }, CLOSE_GRACE_MS).unref() })

  fastify.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id)
    // Answers of the APIs carry personal data (or may): no cache, shared or private, keeps them.
    if (req.url.startsWith('/api/') || req.url.startsWith('/graphql')) reply.header('cache-control', 'no-store')
    // A large text answer (a page of households is ~100 KB, much of it Chinese) is encoded
    // to UTF-8 once here, instead of once to measure its length and again to write it.
    return typeof payload === 'string' && payload.length > LARGE_TEXT ? Buffer.from(payload) : payload
  })
  await fastify.register(httpErrors)
  // Security headers on every answer; CSP is off in development, where GraphiQL's page runs
  // inline scripts. None depends on the request, so helmet computes them once, here:
  // @fastify/helmet built its middleware again for every request (its CSP parsed each time),
  // and even built once it wrote the CSP string anew each time (docs/benchmarks.md).
  const securityHeaders = helmetHeaders({ contentSecurityPolicy: config.env === 'development' ? false : undefined })
  fastify.addHook('onRequest', (_req, reply, done) => {
    for (const [name, value] of securityHeaders) reply.raw.setHeader(name, value)
    done()
  })
  // Load shedding and rate limits (the latter applied by auth, once the caller is known).
  await fastify.register(limits, { config })
  await fastify.register(auth, { auth: config.auth, regionExists: createRegionDirectory(database.db).exists, metricsToken: config.metricsToken })
  await fastify.register(metrics, { database })
  // Reads of requests that change nothing go to the read replicas (DATABASE_REPLICA_URLS).
  await fastify.register(replicas, { config, database })
  registerAuditMetrics(fastify.metrics.registry, sequencer, database.db)
  // Browsers may call the API only from the configured origins (none by default). After
  // auth, so that its preflight route is checked against the policy like every route.
  await fastify.register(cors, { origin: config.corsOrigins.length > 0 ? config.corsOrigins : false, exposedHeaders: ['x-request-id', 'location'] })
  await fastify.register(health)
  await fastify.register(openapi)
  await fastify.register(auditKeys)
  await fastify.register(graphql, { production: config.env === 'production' })
  // GraphiQL in development only; production never loads it.
  if (config.env === 'development') await fastify.register((await import('./infra/graphiql.js')).default)
  await fastify.register(async (api) => {
    for (const routes of restRoutes) await api.register(routes)
  }, { prefix: '/api/v1' })
}

/**
 * The headers helmet sets with these options, as [name, value] pairs: its middleware run
 * once on a stand-in response. (The headers it removes, X-Powered-By, nothing here sets.)
 */
function helmetHeaders (options: HelmetOptions): Array<[string, string]> {
  const headers: Array<[string, string]> = []
  const res = { setHeader: (name: string, value: unknown) => { headers.push([name, String(value)]) }, removeHeader: () => {} }
  let failed: unknown
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => { failed = err })
  if (failed !== undefined) throw failed
  return headers
}
