import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'
import underPressure from '@fastify/under-pressure'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { Config } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Counts the request against its budget and throws 429 once it is spent: the
     * caller's `sub` when authenticated, else the client address. Called by auth.
     */
    checkRateLimit: (req: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Where the rate limits are counted now (shown by /readyz). */
    rateLimitCounting: () => RateLimitCounting
    /** The connection to REDIS_URL (null without it), shared with the replicas' read-your-writes positions. */
    redis: Redis | null
  }
}

/** `local`: no REDIS_URL; `redis`: shared by every replica; the last: REDIS_URL set but Redis unreachable. */
export type RateLimitCounting = 'local' | 'redis' | 'local (redis unreachable)'

/**
 * The connection to Redis, made never to hold a request up: no offline queue (a command
 * while disconnected fails at once), no retries of a command, short connect and command
 * timeouts, and reconnection forever in the background (at most every 2 s).
 */
function connectRedis (url: string): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 500,
    retryStrategy: (times) => Math.min(100 * times, 2000)
  })
}

/**
 * Counts in Redis (the library's Redis store: one INCR and PEXPIRE per request, keys
 * expiring with the window) while Redis answers, else in this process's memory (the
 * library's in-memory store), so that limits hold, per process, while Redis is away.
 * Says so once on each change: a warning when Redis becomes unreachable, info when it is back.
 */
function sharedStore (redis: Redis, keyPrefix: string, log: FastifyBaseLogger): { store: FastifyRateLimitStore, counting: () => RateLimitCounting, closing: () => void } {
  const shared = new RedisStore(false, false, redis, keyPrefix)
  const local = new LocalStore(false, false)
  // null until the first connection: a start without Redis is reported as its loss.
  let up: boolean | null = null
  let closed = false
  const reachable = (): void => {
    if (up === true) return
    log.info({ rateLimits: 'redis' }, up === null ? 'rate limits are counted in Redis, shared by every replica' : 'Redis answers again: rate limits are shared by every replica again')
    up = true
  }
  const unreachable = (err: Error): void => {
    if (up === false || closed) return
    log.warn({ rateLimits: 'local', err: { message: err.message } }, 'Redis is unreachable: rate limits are counted by each process alone until it answers again')
    up = false
  }
  redis.on('ready', reachable)
  redis.on('error', unreachable)
  redis.on('close', () => { unreachable(new Error('connection closed')) })

  const store: FastifyRateLimitStore = {
    incr (key, cb, timeWindow, max) {
      if (redis.status !== 'ready') { local.incr(key, cb, timeWindow, max); return }
      shared.incr(key, (err, res) => {
        if (err === null) { reachable(); cb(null, res); return }
        unreachable(err)
        local.incr(key, cb, timeWindow, max)
      }, timeWindow, max)
    },
    // One limiter in the app (app.rateLimit below): no route has counters of its own.
    child: () => store
  }
  return { store, counting: () => up === true ? 'redis' : 'local (redis unreachable)', closing: () => { closed = true } }
}

/** Seconds a client is asked to wait after a 503 (overload, database too slow). */
export const RETRY_AFTER_S = 10

/** An HTTP-level refusal with its own code beside the contract's (429, 503). */
export class LimitError extends Error {
  constructor (readonly statusCode: 429 | 503, readonly code: 'TOO_MANY_REQUESTS' | 'SERVICE_UNAVAILABLE', message: string) {
    super(message)
    this.name = 'LimitError'
  }
}

/** The liveness and readiness probes: never limited nor shed, so that the orchestrator sees the truth. */
const isProbe = (req: FastifyRequest): boolean => req.routeOptions.url === '/healthz' || req.routeOptions.url === '/readyz'

/**
 * Abuse limits of the HTTP layer (OWASP API4): per-user and per-address rate limits
 * (`@fastify/rate-limit`; counted in Redis with REDIS_URL, else in the process) and load
 * shedding (`@fastify/under-pressure`). Registered before auth, so that an overloaded
 * process refuses before verifying tokens. The Redis connection is closed with the app.
 */
export default fp<{ config: Config }>(async (app, { config }) => {
  const { perMinute, exchangePerMinute, ipPerMinute } = config.rateLimit
  const budget = (req: FastifyRequest): number =>
    req.principal === null ? ipPerMinute : req.principal.role === 'EXCHANGE' ? exchangePerMinute : perMinute

  let counting = (): RateLimitCounting => 'local'
  let store: FastifyRateLimitStore | null = null
  let redis: Redis | null = null
  if (config.redis !== null) {
    redis = connectRedis(config.redis.url)
    const shared = sharedStore(redis, config.redis.keyPrefix, app.log)
    store = shared.store
    counting = shared.counting
    const connection = redis
    app.addHook('onClose', async () => { shared.closing(); connection.disconnect() })
    // Ready with Redis once it answers; without it (counting per process) once it is refused or silent for 2 s.
    await new Promise<void>(resolve => {
      const done = (): void => { clearTimeout(timer); connection.off('ready', done).off('error', done); resolve() }
      const timer = setTimeout(done, 2000)
      connection.on('ready', done).on('error', done)
    })
  }
  app.decorate('rateLimitCounting', () => counting())
  app.decorate('redis', redis)

  // The plugin makes its store with `new`; this one is made already (a constructor may return an object).
  const Store = function () { return store } as unknown as FastifyRateLimitStoreCtor
  await app.register(rateLimit, { global: false, ...(store === null ? {} : { store: Store }) })
  const limit = app.rateLimit({
    timeWindow: 60_000,
    // One token may carry a whole client system's traffic: its budget is by role.
    // Without a valid token (none, expired, forged) the address pays, so a flood of bad tokens is cut off.
    keyGenerator: (req) => req.principal === null ? `ip:${rateLimit.normalizeIP(req.ip)}` : `sub:${req.principal.sub}`,
    max: (req) => budget(req),
    // CORS preflights carry no token and cost nothing; counted by address, a browser
    // front end behind one NAT would spend the anonymous budget of all its users.
    allowList: (req) => isProbe(req) || req.method === 'OPTIONS' || budget(req) === 0,
    errorResponseBuilder: (_req, ctx) =>
      new LimitError(429, 'TOO_MANY_REQUESTS', `Too many requests; retry in ${(ctx as { after?: string }).after ?? 'a minute'}`)
  })
  app.decorate('checkRateLimit', async (req: FastifyRequest, reply: FastifyReply) => { await limit.call(app, req, reply) })

  const { maxEventLoopDelayMs, maxHeapBytes, maxRssBytes } = config.loadShedding
  await app.register(underPressure, {
    maxEventLoopDelay: maxEventLoopDelayMs,
    maxHeapUsedBytes: maxHeapBytes,
    maxRssBytes,
    pressureHandler: async (req, reply, type) => {
      if (isProbe(req)) return
      reply.header('retry-after', RETRY_AFTER_S)
      throw new LimitError(503, 'SERVICE_UNAVAILABLE', `The service is overloaded (${type}); retry later`)
    }
  })
}, { name: 'limits' })
