import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import type { Config } from '../config.js'
import { forbidden, unauthenticated } from '../shared/errors.js'
import { canPerform, OPERATIONS, type Action } from '../shared/policy.js'
import { DEPTS, ROLES, type Dept, type Principal, type Role } from '../shared/principal.js'
import { isRegionCode, levelOf } from '../shared/region-code.js'
import { bindRequestLog } from './logger.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; null only on public routes (and GET /metrics read with METRICS_TOKEN). */
    principal: Principal | null
  }
}

export interface AuthOptions {
  auth: Config['auth']
  regionExists: (code: string) => Promise<boolean>
  /** METRICS_TOKEN: a static bearer token that opens the `metrics.read` routes (GET /metrics) and nothing else. */
  metricsToken?: string | null
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/**
 * The key set is fetched again when a token names an unknown kid (at most once per
 * cooldown: a new key is accepted at the latest `cooldownDuration` after it is
 * published) and when the cached set is older than `cacheMaxAge` (a withdrawn key is
 * refused at the latest that long after its removal). A fetch that fails or times out
 * refuses the token (401): the service fails closed.
 */
export const JWKS_CACHE = { timeoutDuration: 3_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 }

/**
 * Tokens already verified are remembered, so that a client sending the same token on
 * every call (an EXCHANGE system, a front end) costs one signature check per `maxAgeMs`
 * instead of one per request. An entry holds the principal its token verified to and
 * is used only while the token's `exp` has not passed and for at most `maxAgeMs` after
 * the full check (so a key withdrawn from the JWKS is refused at the latest
 * `JWKS_CACHE.cacheMaxAge + maxAgeMs` after its removal). Refused tokens are never
 * remembered. At most `maxEntries` tokens; beyond that the oldest is forgotten.
 */
export const TOKEN_CACHE = { maxAgeMs: 10_000, maxEntries: 10_000 }

interface VerifiedToken { principal: Principal, exp: number, until: number }

/** The verified-token memory of TOKEN_CACHE: keyed by the whole token, compared exactly. */
export class VerifiedTokens {
  private readonly entries = new Map<string, VerifiedToken>()
  constructor (private readonly limits: typeof TOKEN_CACHE = TOKEN_CACHE) {}

  /** The principal of a token verified before and still valid at `nowMs`, else null. */
  get (token: string, nowMs: number): Principal | null {
    const entry = this.entries.get(token)
    if (entry === undefined) return null
    // jose refuses a token once exp <= now (in whole seconds): the same rule here.
    if (nowMs >= entry.until || entry.exp <= Math.floor(nowMs / 1000)) {
      this.entries.delete(token)
      return null
    }
    return entry.principal
  }

  set (token: string, principal: Principal, exp: number, nowMs: number): void {
    if (this.entries.size >= this.limits.maxEntries) this.entries.delete(this.entries.keys().next().value!)
    this.entries.set(token, { principal, exp, until: nowMs + this.limits.maxAgeMs })
  }
}

/** Why a token's signature may not verify, for the 401 and the log (names where the key comes from, never the key). */
export const SIGNATURE_HINT = 'it was signed with another key than this server\'s (JWT_SECRET, JWT_JWKS_URL, or the embedded default\'s $DATA_DIR/jwt-secret); mint tokens with `npm run token` under the same configuration as the server'

/** The OPERATIONS key of a route: `GET /api/v1/regions/:code` (HEAD shares its GET's entry). */
export function operationKey (method: string, url: string): string {
  return `${method === 'HEAD' ? 'GET' : method} ${url}`
}

/**
 * Authentication (contract §2) on every request but the public ones, and the
 * first, role-level half of authorisation: the route's action from OPERATIONS.
 * A route without an OPERATIONS entry cannot be registered (deny by default).
 */
export default fp<AuthOptions>(async (app, opts) => {
  const { issuer, audience, secret, jwksUrl } = opts.auth
  // `now` is passed to jose so that it and the token memory judge `exp` by the same clock.
  const verify = secret !== null
    ? async (token: string, now: Date) => await jwtVerify(token, secret, { issuer, audience, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'], currentDate: now })
    : await (async () => {
      if (jwksUrl === null) throw new Error('JWT_SECRET or JWT_JWKS_URL is required')
      const jwks = createRemoteJWKSet(jwksUrl, JWKS_CACHE)
      return async (token: string, now: Date) => await jwtVerify(token, jwks, { issuer, audience, algorithms: ['RS256', 'ES256'], requiredClaims: ['exp', 'sub'], currentDate: now })
    })()
  const verified = new VerifiedTokens()

  async function principalOf (payload: JWTPayload): Promise<Principal | null> {
    const { sub, role, region, dept } = payload as JWTPayload & Record<string, unknown>
    if (typeof sub !== 'string' || sub === '' || sub.length > 200) return null
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) return null
    if (typeof region !== 'string' || !isRegionCode(region) || !(await opts.regionExists(region))) return null
    let d: Dept | null = null
    if (role === 'EXCHANGE') {
      if (typeof dept !== 'string' || !(DEPTS as readonly string[]).includes(dept)) return null
      d = dept as Dept
    }
    // Frozen: one principal serves every request made with its token (TOKEN_CACHE).
    return Object.freeze({ sub, role: role as Role, regionCode: region, level: levelOf(region), dept: d })
  }

  async function authenticate (req: FastifyRequest): Promise<Principal> {
    const header = req.headers.authorization
    const match = typeof header === 'string' ? /^Bearer ([\w-]+\.[\w-]+\.[\w-]*)$/i.exec(header.trim()) : null
    if (match === null) throw unauthenticated('A bearer token is required')
    const token = match[1]!
    const nowMs = Date.now()
    const known = verified.get(token, nowMs)
    if (known !== null) return known
    let payload: JWTPayload
    try {
      payload = (await verify(token, new Date(nowMs))).payload
    } catch (err) {
      const reason = (err as { code?: string }).code ?? 'invalid'
      // The commonest slip in development: a token minted with another secret (another
      // DATA_DIR's generated jwt-secret, another JWT_SECRET). Said without the secret.
      const badSignature = reason === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'
      req.log.info({ reason, ...(badSignature ? { hint: SIGNATURE_HINT } : {}) }, 'token refused')
      throw unauthenticated(badSignature ? `The token's signature does not verify: ${SIGNATURE_HINT}` : 'The token is invalid or expired')
    }
    const principal = await principalOf(payload)
    if (principal === null) throw unauthenticated('The token\'s claims are invalid (sub, role, region or dept)')
    // requiredClaims makes jose check that exp is there and a number.
    verified.set(token, principal, payload.exp!, nowMs)
    return principal
  }

  // Compared as digests in constant time: the comparison tells nothing of the token.
  const metricsDigest = opts.metricsToken != null ? digest(`Bearer ${opts.metricsToken}`) : null
  const isMetricsToken = (header: string | undefined): boolean =>
    metricsDigest !== null && typeof header === 'string' && timingSafeEqual(digest(header.trim()), metricsDigest)

  app.decorateRequest('principal', null)

  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (!(operationKey(method, route.url) in OPERATIONS)) {
        throw new Error(`route ${method} ${route.url} has no entry in the policy module's OPERATIONS`)
      }
    }
  })

  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url
    const action: Action | 'public' | undefined = url === undefined ? undefined : OPERATIONS[operationKey(req.method, url)]
    if (action === 'public') return await app.checkRateLimit(req, reply)
    // A scraper with METRICS_TOKEN reads the metrics without a principal (the route needs none).
    if (action === 'metrics.read' && isMetricsToken(req.headers.authorization)) return await app.checkRateLimit(req, reply)
    try {
      req.principal = await authenticate(req)
      // Who asked, on every later log line of the request (its "request completed" line too).
      bindRequestLog(req, { sub: req.principal.sub, role: req.principal.role })
    } finally {
      // Counted once the caller is known: by its sub, or (refused: no principal) by its address.
      await app.checkRateLimit(req, reply)
    }
    if (action !== undefined && !canPerform(req.principal, action)) throw forbidden()
  })
}, { name: 'auth', dependencies: ['db', 'limits'] })
