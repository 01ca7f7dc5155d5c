import rateLimit from '@fastify/rate-limit'
import underPressure from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Counts the request against its budget and throws 429 once it is spent: the
     * caller's `sub` when authenticated, else the client address. Called by auth.
     */
    checkRateLimit: (req: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
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
 * (`@fastify/rate-limit`, in-process counters) and load shedding (`@fastify/under-pressure`).
 * Registered before auth, so that an overloaded process refuses before verifying tokens.
 */
export default fp<{ config: Config }>(async (app, { config }) => {
  const { perMinute, exchangePerMinute, ipPerMinute } = config.rateLimit
  const budget = (req: FastifyRequest): number =>
    req.principal === null ? ipPerMinute : req.principal.role === 'EXCHANGE' ? exchangePerMinute : perMinute

  await app.register(rateLimit, { global: false })
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
