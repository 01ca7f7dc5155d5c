import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import type { Config } from '../config.js'
import { forbidden, unauthenticated } from '../shared/errors.js'
import { canPerform, OPERATIONS, type Action } from '../shared/policy.js'
import { DEPTS, ROLES, type Dept, type Principal, type Role } from '../shared/principal.js'
import { isRegionCode, levelOf } from '../shared/region-code.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; null only on public routes. */
    principal: Principal | null
  }
}

export interface AuthOptions {
  auth: Config['auth']
  regionExists: (code: string) => Promise<boolean>
}

/**
 * The key set is fetched again when a token names an unknown kid (at most once per
 * cooldown: a new key is accepted at the latest `cooldownDuration` after it is
 * published) and when the cached set is older than `cacheMaxAge` (a withdrawn key is
 * refused at the latest that long after its removal). A fetch that fails or times out
 * refuses the token (401): the service fails closed.
 */
export const JWKS_CACHE = { timeoutDuration: 3_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 }

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
  const verify = secret !== null
    ? async (token: string) => await jwtVerify(token, secret, { issuer, audience, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] })
    : await (async () => {
      if (jwksUrl === null) throw new Error('JWT_SECRET or JWT_JWKS_URL is required')
      const jwks = createRemoteJWKSet(jwksUrl, JWKS_CACHE)
      return async (token: string) => await jwtVerify(token, jwks, { issuer, audience, algorithms: ['RS256', 'ES256'], requiredClaims: ['exp', 'sub'] })
    })()

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
    return { sub, role: role as Role, regionCode: region, level: levelOf(region), dept: d }
  }

  async function authenticate (req: FastifyRequest): Promise<Principal> {
    const header = req.headers.authorization
    const match = typeof header === 'string' ? /^Bearer ([\w-]+\.[\w-]+\.[\w-]*)$/i.exec(header.trim()) : null
    if (match === null) throw unauthenticated('A bearer token is required')
    let payload: JWTPayload
    try {
      payload = (await verify(match[1]!)).payload
    } catch (err) {
      req.log.info({ reason: (err as { code?: string }).code ?? 'invalid' }, 'token refused')
      throw unauthenticated('The token is invalid or expired')
    }
    const principal = await principalOf(payload)
    if (principal === null) throw unauthenticated('The token\'s claims are invalid (sub, role, region or dept)')
    return principal
  }

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
    try {
      req.principal = await authenticate(req)
    } finally {
      // Counted once the caller is known: by its sub, or (refused: no principal) by its address.
      await app.checkRateLimit(req, reply)
    }
    if (action !== undefined && !canPerform(req.principal, action)) throw forbidden()
  })
}, { name: 'auth', dependencies: ['db', 'limits'] })
