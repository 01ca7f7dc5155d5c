/**
 * Authentication (contract §2) through the real app: every token case on a REST
 * route (GET /api/v1/me) and on GraphQL (POST /graphql { me }), in both the
 * JWT_SECRET (HS256) mode and the JWT_JWKS_URL (RS256/ES256) mode, plus the
 * public routes and the role-level refusal (FORBIDDEN) of a root field.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import t, { type Test } from 'tap'
import { JWKS_CACHE, TOKEN_CACHE, VerifiedTokens } from '../src/infra/auth.js'
import type { Principal } from '../src/shared/principal.js'
import { buildApp, TEST_SECRET, testConfig, uniqueSub } from './helper.js'

const ISSUER = 'beneficiary-registry'
const AUDIENCE = 'beneficiary-registry'
const VILLAGE = '411224101201'
const CITY = '4112'
const ME_QUERY = '{ me { sub role region { code } dept } }'
const enc = new TextEncoder()

const now = (): number => Math.floor(Date.now() / 1000)
const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * A complete, valid claim set (OPERATOR at a village), with overrides; an
 * override of `undefined` removes the claim.
 */
function claims (over: Record<string, unknown> = {}): JWTPayload {
  const payload: Record<string, unknown> = {
    sub: uniqueSub('auth'),
    role: 'OPERATOR',
    region: VILLAGE,
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now(),
    exp: now() + 3600,
    ...over
  }
  for (const key of Object.keys(payload)) if (payload[key] === undefined) delete payload[key]
  return payload
}

/** Moves the clock of jose and of the token memory (both read Date.now) by `ms` more; undone at teardown. */
function clockShifter (t: Test): (ms: number) => void {
  const realNow = Date.now
  let shift = 0
  Date.now = () => realNow() + shift
  t.teardown(() => { Date.now = realNow })
  return (ms) => { shift += ms }
}

/** Signs `payload` as given (no claim is added) with an HMAC secret. */
async function signHmac (payload: JWTPayload, opts: { alg?: 'HS256' | 'HS384' | 'HS512', secret?: string | Uint8Array, kid?: string } = {}): Promise<string> {
  const secret = opts.secret ?? TEST_SECRET
  return await new SignJWT(payload)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT', ...(opts.kid !== undefined ? { kid: opts.kid } : {}) })
    .sign(typeof secret === 'string' ? enc.encode(secret) : secret)
}

/** An unsigned token: header {"alg":"none"} + payload + empty signature. */
const unsigned = (payload: JWTPayload): string => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`

// --- assertions -------------------------------------------------------------

async function restMe (app: FastifyInstance, authorization?: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'GET', url: '/api/v1/me', headers: authorization === undefined ? {} : { authorization } })
}

async function gql (app: FastifyInstance, authorization: string | undefined, query: string): Promise<{ status: number, body: any }> {
  const res = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: authorization === undefined ? {} : { authorization },
    payload: { query }
  })
  return { status: res.statusCode, body: res.json() }
}

/** Both transports refuse the Authorization header with 401 UNAUTHENTICATED. */
async function refused (t: Test, app: FastifyInstance, authorization: string | undefined): Promise<void> {
  const rest = await restMe(app, authorization)
  t.equal(rest.statusCode, 401, 'REST: 401')
  t.match(rest.headers['content-type'], /^application\/problem\+json/, 'REST: problem+json')
  const problem = rest.json()
  t.equal(problem.code, 'UNAUTHENTICATED', 'REST: code UNAUTHENTICATED')
  t.equal(problem.status, 401, 'REST: problem status 401')
  t.notOk('sub' in problem || 'regionCode' in problem, 'REST: no principal in the body')

  const g = await gql(app, authorization, ME_QUERY)
  t.equal(g.status, 401, 'GraphQL: 401')
  t.equal(g.body.data, null, 'GraphQL: no data')
  t.equal(g.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED', 'GraphQL: UNAUTHENTICATED')
}

/** Both transports accept the token and answer `me` with the expected principal. */
async function accepted (t: Test, app: FastifyInstance, jwt: string, expected: { sub: string, role: string, regionCode: string, regionName: string, level: string, dept: string | null }): Promise<void> {
  const rest = await restMe(app, `Bearer ${jwt}`)
  t.equal(rest.statusCode, 200, 'REST: 200')
  t.same(rest.json(), expected, 'REST: the right me')

  const g = await gql(app, `Bearer ${jwt}`, ME_QUERY)
  t.equal(g.status, 200, 'GraphQL: 200')
  t.equal(g.body.errors, undefined, 'GraphQL: no errors')
  t.same(g.body.data, { me: { sub: expected.sub, role: expected.role, region: { code: expected.regionCode }, dept: expected.dept } }, 'GraphQL: the right me')
}

// --- JWT_SECRET (HS256) mode ---------------------------------------------------

t.test('HS256 mode (JWT_SECRET)', async (t) => {
  const { app } = await buildApp(t)

  t.test('valid tokens', async (t) => {
    t.test('OPERATOR at a village', async (t) => {
      const sub = uniqueSub('operator')
      const jwt = await signHmac(claims({ sub, role: 'OPERATOR', region: VILLAGE }))
      await accepted(t, app, jwt, { sub, role: 'OPERATOR', regionCode: VILLAGE, regionName: '龙王庙村村委会', level: 'VILLAGE', dept: null })
    })
    t.test('EXCHANGE (health) at the city', async (t) => {
      const sub = uniqueSub('exchange')
      const jwt = await signHmac(claims({ sub, role: 'EXCHANGE', region: CITY, dept: 'health' }))
      await accepted(t, app, jwt, { sub, role: 'EXCHANGE', regionCode: CITY, regionName: '三门峡市', level: 'CITY', dept: 'health' })
    })
    t.test('the scheme name is case-insensitive (RFC 9110)', async (t) => {
      const sub = uniqueSub('operator')
      const jwt = await signHmac(claims({ sub }))
      t.equal((await restMe(app, `bearer ${jwt}`)).statusCode, 200)
    })
  })

  t.test('a verified token is remembered only while it is valid', async (t) => {
    const { app } = await buildApp(t)
    const advance = clockShifter(t)
    const sub = uniqueSub('remembered')
    const jwt = await signHmac(claims({ sub, exp: now() + 9 }))
    for (let i = 0; i < 3; i++) t.equal((await restMe(app, `Bearer ${jwt}`)).statusCode, 200, `call ${i + 1}: accepted`)
    advance(7_000)
    t.equal((await restMe(app, `Bearer ${jwt}`)).statusCode, 200, 'before exp: still accepted')
    advance(2_000)
    await refused(t, app, `Bearer ${jwt}`) // exp == now: expired, though verified (and remembered) before
    const other = await signHmac(claims({ sub: uniqueSub('other'), role: 'ADMIN', region: CITY }))
    t.match((await restMe(app, `Bearer ${other}`)).json(), { role: 'ADMIN', regionCode: CITY }, 'each token its own principal')
    const at = jwt.lastIndexOf('.') + 5 // a signature character that carries bits (not the last one)
    const forged = jwt.slice(0, at) + (jwt[at] === 'A' ? 'B' : 'A') + jwt.slice(at + 1)
    t.equal((await restMe(app, `Bearer ${forged}`)).statusCode, 401, 'a remembered token with another signature: refused')
  })

  t.test('refused tokens → 401 UNAUTHENTICATED on REST and GraphQL', async (t) => {
    const cases: Array<[string, () => Promise<string | undefined>]> = [
      ['missing Authorization header', async () => undefined],
      ['empty Authorization header', async () => ''],
      ['non-Bearer scheme (Basic)', async () => `Basic ${Buffer.from('admin:admin').toString('base64')}`],
      ['non-Bearer scheme carrying a valid token', async () => `Token ${await signHmac(claims())}`],
      ['Bearer without a token', async () => 'Bearer '],
      ['garbage token (not three segments)', async () => 'Bearer not-a-jwt'],
      ['garbage token (three segments)', async () => 'Bearer aaaa.bbbb.cccc'],
      ['garbage token (bad JSON header)', async () => `Bearer ${Buffer.from('{oops').toString('base64url')}.${b64url(claims())}.sig`],
      ['signed with another secret', async () => `Bearer ${await signHmac(claims(), { secret: 'another-secret-that-is-long-enough-for-hs256!!' })}`],
      ['valid token with a tampered payload', async () => {
        const [h, , s] = (await signHmac(claims({ role: 'OPERATOR' }))).split('.')
        return `Bearer ${h}.${b64url(claims({ role: 'ADMIN', region: '41' }))}.${s}`
      }],
      ['expired (exp in the past)', async () => `Bearer ${await signHmac(claims({ iat: now() - 7200, exp: now() - 3600 }))}`],
      ['no exp claim', async () => `Bearer ${await signHmac(claims({ exp: undefined }))}`],
      ['exp that is not a number', async () => `Bearer ${await signHmac(claims({ exp: String(now() + 3600) }))}`],
      ['not valid yet (nbf in the future)', async () => `Bearer ${await signHmac(claims({ nbf: now() + 3600 }))}`],
      ['wrong iss', async () => `Bearer ${await signHmac(claims({ iss: 'someone-else' }))}`],
      ['wrong aud', async () => `Bearer ${await signHmac(claims({ aud: 'another-service' }))}`],
      ['missing iss', async () => `Bearer ${await signHmac(claims({ iss: undefined }))}`],
      ['missing aud', async () => `Bearer ${await signHmac(claims({ aud: undefined }))}`],
      ['missing iss and aud', async () => `Bearer ${await signHmac(claims({ iss: undefined, aud: undefined }))}`],
      ['alg none (unsigned)', async () => `Bearer ${unsigned(claims())}`],
      ['alg none with a signature appended', async () => `Bearer ${unsigned(claims())}${Buffer.from('sig').toString('base64url')}`],
      ['HS512 signed with the right secret (algorithm pinned to HS256)', async () => `Bearer ${await signHmac(claims(), { alg: 'HS512' })}`],
      ['HS384 signed with the right secret', async () => `Bearer ${await signHmac(claims(), { alg: 'HS384' })}`],
      ['unknown role SUPERUSER', async () => `Bearer ${await signHmac(claims({ role: 'SUPERUSER' }))}`],
      ['role in the wrong case (admin)', async () => `Bearer ${await signHmac(claims({ role: 'admin' }))}`],
      ['role that is not a string', async () => `Bearer ${await signHmac(claims({ role: ['ADMIN'] }))}`],
      ['missing role', async () => `Bearer ${await signHmac(claims({ role: undefined }))}`],
      ['malformed region "41x"', async () => `Bearer ${await signHmac(claims({ region: '41x' }))}`],
      ['region with a bad length "41122"', async () => `Bearer ${await signHmac(claims({ region: '41122' }))}`],
      ['region that is a number', async () => `Bearer ${await signHmac(claims({ region: 4112 }))}`],
      ['well-formed region that does not exist "411299"', async () => `Bearer ${await signHmac(claims({ region: '411299' }))}`],
      ['well-formed village that does not exist', async () => `Bearer ${await signHmac(claims({ region: '411224999999' }))}`],
      ['missing region', async () => `Bearer ${await signHmac(claims({ region: undefined }))}`],
      ['EXCHANGE without dept', async () => `Bearer ${await signHmac(claims({ role: 'EXCHANGE', region: CITY }))}`],
      ['EXCHANGE with an unknown dept', async () => `Bearer ${await signHmac(claims({ role: 'EXCHANGE', region: CITY, dept: 'tax' }))}`],
      ['missing sub', async () => `Bearer ${await signHmac(claims({ sub: undefined }))}`],
      ['empty sub', async () => `Bearer ${await signHmac(claims({ sub: '' }))}`],
      ['sub that is not a string', async () => `Bearer ${await signHmac(claims({ sub: 42 }))}`]
    ]
    for (const [name, header] of cases) {
      t.test(name, async (t) => { await refused(t, app, await header()) })
    }
  })

  t.test('a token signed with another secret (e.g. minted with another DATA_DIR) is refused with a hint, never the secret', async (t) => {
    const other = await signHmac(claims(), { secret: 'another-secret-that-is-long-enough-for-hs256!!' })
    const rest = (await restMe(app, `Bearer ${other}`)).json()
    t.match(rest.detail, /signature does not verify.*JWT_SECRET.*DATA_DIR\/jwt-secret.*npm run token/)
    const g = await gql(app, `Bearer ${other}`, ME_QUERY)
    t.match(g.body.errors[0].message, /signature does not verify/)
    t.notMatch(JSON.stringify([rest, g.body]), TEST_SECRET, 'the secret is not told')
    const expired = (await restMe(app, `Bearer ${await signHmac(claims({ iat: now() - 7200, exp: now() - 3600 }))}`)).json()
    t.notMatch(expired.detail, /signature/, 'an expired token gets no such hint')
  })

  t.test('public routes need no token', async (t) => {
    for (const url of ['/healthz', '/readyz', '/openapi.yaml']) {
      const res = await app.inject({ method: 'GET', url })
      t.equal(res.statusCode, 200, `GET ${url} → 200 without a token`)
    }
    t.match((await app.inject({ method: 'GET', url: '/openapi.yaml' })).body, /openapi:/)
    // A bad token on a public route is ignored, not refused.
    const res = await app.inject({ method: 'GET', url: '/healthz', headers: { authorization: 'Bearer garbage' } })
    t.equal(res.statusCode, 200, 'a garbage token does not break a public route')
  })

  t.test('an unknown route still needs a token', async (t) => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/no-such-route' })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'UNAUTHENTICATED')
  })

  t.test('a role the field\'s action refuses → FORBIDDEN', async (t) => {
    const auditQuery = '{ auditLog { totalCount } }'
    for (const [who, extra] of [
      ['EXCHANGE (health)', { role: 'EXCHANGE', region: CITY, dept: 'health' }],
      ['VIEWER', { role: 'VIEWER', region: CITY }],
      ['OPERATOR', { role: 'OPERATOR', region: VILLAGE }]
    ] as const) {
      const jwt = await signHmac(claims({ sub: uniqueSub('forbidden'), ...extra }))
      const g = await gql(app, `Bearer ${jwt}`, auditQuery)
      t.equal(g.body.errors?.[0]?.extensions?.code, 'FORBIDDEN', `${who}: auditLog → FORBIDDEN`)
      t.same(g.body.errors?.[0]?.path, ['auditLog'], `${who}: the error names the field`)
      t.equal(g.body.data, null, `${who}: no data`)
      t.not(g.status, 500, `${who}: never 500`)
      t.not(g.status, 401, `${who}: authenticated, so not 401`)
    }
    // Control: an ADMIN may read it.
    const admin = await signHmac(claims({ sub: uniqueSub('admin'), role: 'ADMIN', region: CITY }))
    const ok = await gql(app, `Bearer ${admin}`, auditQuery)
    t.equal(ok.status, 200)
    t.equal(ok.body.errors, undefined, 'ADMIN: no errors')
    t.type(ok.body.data?.auditLog?.totalCount, 'number', 'ADMIN: auditLog answers')
  })
})

// --- JWKS mode ------------------------------------------------------------------

interface KeyPair { kid: string, alg: 'RS256' | 'ES256', privateKey: CryptoKey, jwk: JWK }

async function keyPair (alg: 'RS256' | 'ES256', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg)
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
  return { kid, alg, privateKey, jwk }
}

async function signWith (key: KeyPair, payload: JWTPayload, kid: string = key.kid): Promise<string> {
  return await new SignJWT(payload).setProtectedHeader({ alg: key.alg, typ: 'JWT', kid }).sign(key.privateKey)
}

/** A local JWKS endpoint whose key set and health can be changed by the test. */
class JwksServer {
  keys: JWK[] = []
  failing = false
  fetches = 0
  private server: Server | null = null
  port = 0

  async start (): Promise<this> {
    this.server = createServer((req, res) => {
      if (req.url !== '/jwks.json') { res.writeHead(404).end(); return }
      this.fetches++
      if (this.failing) { res.writeHead(500, { 'content-type': 'text/plain' }).end('boom'); return }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }))
    })
    await new Promise<void>((resolve) => { this.server!.listen(0, '127.0.0.1', resolve) })
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  get url (): string { return `http://127.0.0.1:${this.port}/jwks.json` }

  async stop (): Promise<void> {
    const server = this.server
    if (server === null) return
    this.server = null
    server.closeAllConnections()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  }
}

t.test('JWKS mode (JWT_JWKS_URL)', async (t) => {
  const rsa = await keyPair('RS256', 'rsa-2024')
  const ec = await keyPair('ES256', 'ec-2024')
  const jwks = await new JwksServer().start()
  t.teardown(async () => { await jwks.stop() })
  jwks.keys = [rsa.jwk, ec.jwk]
  const jwksConfig = (url = jwks.url): ReturnType<typeof testConfig> => testConfig({ JWT_SECRET: '', JWT_JWKS_URL: url })

  t.test('config: JWKS only, no secret', async (t) => {
    const config = jwksConfig()
    t.equal(config.auth.secret, null)
    t.equal(config.auth.jwksUrl?.href, jwks.url)
  })

  t.test('RS256 and ES256 tokens are accepted; others refused', async (t) => {
    const { app } = await buildApp(t, { config: jwksConfig() })

    t.test('RS256 accepted', async (t) => {
      const sub = uniqueSub('rs256')
      await accepted(t, app, await signWith(rsa, claims({ sub })), { sub, role: 'OPERATOR', regionCode: VILLAGE, regionName: '龙王庙村村委会', level: 'VILLAGE', dept: null })
    })
    t.test('ES256 accepted', async (t) => {
      const sub = uniqueSub('es256')
      await accepted(t, app, await signWith(ec, claims({ sub, role: 'EXCHANGE', region: CITY, dept: 'health' })), { sub, role: 'EXCHANGE', regionCode: CITY, regionName: '三门峡市', level: 'CITY', dept: 'health' })
    })

    const cases: Array<[string, () => Promise<string>]> = [
      ['HS256 signed with the former secret', async () => await signHmac(claims())],
      ['HS256 with an RS kid, keyed with the public JWK (algorithm confusion)', async () =>
        await signHmac(claims(), { kid: rsa.kid, secret: JSON.stringify(rsa.jwk) })],
      ['HS256 with an RS kid, keyed with the modulus', async () =>
        await signHmac(claims(), { kid: rsa.kid, secret: Buffer.from(rsa.jwk.n!, 'base64url') })],
      ['alg none', async () => unsigned(claims())],
      ['RS256 signed by a foreign key under a known kid', async () => await signWith(await keyPair('RS256', 'foreign'), claims(), rsa.kid)],
      ['RS256 expired', async () => await signWith(rsa, claims({ exp: now() - 3600 }))],
      ['RS256 without exp', async () => await signWith(rsa, claims({ exp: undefined }))],
      ['ES256 wrong iss', async () => await signWith(ec, claims({ iss: 'elsewhere' }))],
      ['ES256 wrong aud', async () => await signWith(ec, claims({ aud: 'elsewhere' }))],
      ['RS256 unknown role', async () => await signWith(rsa, claims({ role: 'SUPERUSER' }))],
      ['RS256 unknown region', async () => await signWith(rsa, claims({ region: '411299' }))],
      ['RS256 without sub', async () => await signWith(rsa, claims({ sub: undefined }))]
    ]
    for (const [name, make] of cases) {
      t.test(name, async (t) => { await refused(t, app, `Bearer ${await make()}`) })
    }
  })

  t.test('key rotation', async (t) => {
    const rsaOld = await keyPair('RS256', 'rot-old')
    const rsaNew = await keyPair('RS256', 'rot-new')
    const ecNew = await keyPair('ES256', 'rot-new-ec')
    const rotating = await new JwksServer().start()
    t.teardown(async () => { await rotating.stop() })
    rotating.keys = [rsaOld.jwk]

    const before = await buildApp(t, { config: jwksConfig(rotating.url) })
    const subBefore = uniqueSub('rot')
    t.equal((await restMe(before.app, `Bearer ${await signWith(rsaOld, claims({ sub: subBefore }))}`)).statusCode, 200, 'old key accepted before the rotation')

    // The issuer rotates: the old key is withdrawn, new ones (new kids) are published.
    rotating.keys = [rsaNew.jwk, ecNew.jwk]

    // An app whose first request with the new kid comes after the rotation fetches the new set.
    const fresh = await buildApp(t, { config: jwksConfig(rotating.url) })
    const sub = uniqueSub('rot')
    await accepted(t, fresh.app, await signWith(rsaNew, claims({ sub })), { sub, role: 'OPERATOR', regionCode: VILLAGE, regionName: '龙王庙村村委会', level: 'VILLAGE', dept: null })
    t.equal((await restMe(fresh.app, `Bearer ${await signWith(ecNew, claims())}`)).statusCode, 200, 'new ES256 key accepted')
    t.test('a token signed with the removed key is refused once refreshed', async (t) => {
      await refused(t, fresh.app, `Bearer ${await signWith(rsaOld, claims())}`)
    })

    // An app that never fetched before the rotation: its first fetch is of the new set.
    const fetchesBefore = rotating.fetches
    const late = await buildApp(t, { config: jwksConfig(rotating.url) })
    t.equal((await restMe(late.app, `Bearer ${await signWith(rsaNew, claims())}`)).statusCode, 200, 'new key accepted')
    t.test('late app: the removed key is refused', async (t) => {
      await refused(t, late.app, `Bearer ${await signWith(rsaOld, claims())}`)
    })
    t.ok(rotating.fetches > fetchesBefore, 'the key set was fetched after the rotation')
  })

  /** An issuer publishing an old key, an app verifying with its key set, a new key not yet published. */
  const runningIssuer = async (t: Test, name: string): Promise<{ oldKey: KeyPair, newKey: KeyPair, issuer: JwksServer, app: FastifyInstance }> => {
    const oldKey = await keyPair('ES256', `${name}-old`)
    const newKey = await keyPair('ES256', `${name}-new`)
    const issuer = await new JwksServer().start()
    t.teardown(async () => { await issuer.stop() })
    issuer.keys = [oldKey.jwk]
    const { app } = await buildApp(t, { config: jwksConfig(issuer.url) })
    return { oldKey, newKey, issuer, app }
  }

  t.test('key rotation under a running app: the new key once published, the old one refused once the cache ages', async (t) => {
    const { oldKey, newKey, issuer, app } = await runningIssuer(t, 'run')
    // jose times its cache with Date.now: move that clock instead of waiting.
    const advance = clockShifter(t)
    const status = async (key: KeyPair): Promise<number> => (await restMe(app, `Bearer ${await signWith(key, claims())}`)).statusCode

    t.equal(await status(oldKey), 200, 'old key accepted')
    issuer.keys = [oldKey.jwk, newKey.jwk] // the issuer publishes the new key
    advance(JWKS_CACHE.cooldownDuration + 1_000)
    t.equal(await status(newKey), 200, 'new key accepted once the cooldown since the last fetch has passed')
    issuer.keys = [newKey.jwk] // and withdraws the old one
    t.equal(await status(oldKey), 200, 'the cached set still holds the old key')
    advance(JWKS_CACHE.cacheMaxAge + 1_000)
    t.equal(await status(oldKey), 401, 'the old key is refused once the cached set has aged out')
    t.equal(await status(newKey), 200, 'the new key still accepted')

    // The issuer goes down: the cached keys still verify until the set ages out, then nothing does.
    issuer.failing = true
    t.equal(await status(newKey), 200, 'cached key still verifies during a short outage')
    t.equal(await status(await keyPair('ES256', 'run-unknown')), 401, 'an unknown kid during the outage: 401')
    advance(JWKS_CACHE.cacheMaxAge + 1_000)
    await refused(t, app, `Bearer ${await signWith(newKey, claims())}`)
    issuer.failing = false
    advance(JWKS_CACHE.cooldownDuration + 1_000)
    t.equal(await status(newKey), 200, 'accepted again once the issuer is back')
  })

  t.test('a remembered token outlives the withdrawal of its key by at most TOKEN_CACHE.maxAgeMs', async (t) => {
    const { oldKey, newKey, issuer, app } = await runningIssuer(t, 'mem')
    const advance = clockShifter(t)
    t.equal((await restMe(app, `Bearer ${await signWith(oldKey, claims())}`)).statusCode, 200, 'the key set fetched')
    advance(JWKS_CACHE.cooldownDuration + 1_000)
    const remembered = await signWith(oldKey, claims())
    t.equal((await restMe(app, `Bearer ${remembered}`)).statusCode, 200, 'verified and remembered')
    // The issuer withdraws the old key; a token with the new kid makes the app fetch the set again.
    issuer.keys = [newKey.jwk]
    const fetches = issuer.fetches
    t.equal((await restMe(app, `Bearer ${await signWith(newKey, claims())}`)).statusCode, 200, 'the new key accepted')
    t.equal(issuer.fetches, fetches + 1, 'the set was fetched again, without the old key')
    await refused(t, app, `Bearer ${await signWith(oldKey, claims())}`) // a new token of the withdrawn key: at once
    advance(TOKEN_CACHE.maxAgeMs - 1_000)
    t.equal((await restMe(app, `Bearer ${remembered}`)).statusCode, 200, 'the remembered one within maxAgeMs of its check')
    advance(2_000)
    await refused(t, app, `Bearer ${remembered}`) // checked again in full: its key is gone
  })

  t.test('outage: the app fails closed (401, never 500)', async (t) => {
    t.test('JWKS server answers 500', async (t) => {
      const key = await keyPair('RS256', 'outage-500')
      const broken = await new JwksServer().start()
      t.teardown(async () => { await broken.stop() })
      broken.keys = [key.jwk]
      broken.failing = true
      const { app } = await buildApp(t, { config: jwksConfig(broken.url) })
      await refused(t, app, `Bearer ${await signWith(key, claims())}`)
      t.ok(broken.fetches > 0, 'the app did try to fetch the key set')
    })

    t.test('JWKS server stopped', async (t) => {
      const key = await keyPair('ES256', 'outage-down')
      const gone = await new JwksServer().start()
      gone.keys = [key.jwk]
      const url = gone.url
      await gone.stop()
      const { app } = await buildApp(t, { config: jwksConfig(url) })
      await refused(t, app, `Bearer ${await signWith(key, claims())}`)
      // The public routes keep working without the key set.
      t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, '/healthz still answers')
    })

    t.test('JWKS server answers something that is not a key set', async (t) => {
      const key = await keyPair('RS256', 'outage-junk')
      const junk = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"not":"a key set"}') })
      await new Promise<void>((resolve) => { junk.listen(0, '127.0.0.1', resolve) })
      t.teardown(async () => {
        junk.closeAllConnections()
        await new Promise<void>((resolve) => { junk.close(() => { resolve() }) })
      })
      const port = (junk.address() as AddressInfo).port
      const { app } = await buildApp(t, { config: jwksConfig(`http://127.0.0.1:${port}/jwks.json`) })
      await refused(t, app, `Bearer ${await signWith(key, claims())}`)
    })
  })
})

t.test('VerifiedTokens: exp and maxAgeMs end an entry; the oldest is forgotten beyond maxEntries', async (t) => {
  const p = (sub: string): Principal => ({ sub, role: 'ADMIN', regionCode: CITY, level: 'CITY', dept: null })
  const tokens = new VerifiedTokens({ maxAgeMs: 10_000, maxEntries: 2 })
  const t0 = 1_800_000_000_000
  tokens.set('a', p('a'), t0 / 1000 + 5, t0)
  t.equal(tokens.get('a', t0 + 4_999)?.sub, 'a')
  t.equal(tokens.get('a', t0 + 5_000), null, 'exp <= now: gone, as jose refuses it')
  tokens.set('b', p('b'), t0 / 1000 + 3600, t0)
  t.equal(tokens.get('b', t0 + 9_999)?.sub, 'b')
  t.equal(tokens.get('b', t0 + 10_000), null, 'maxAgeMs after its check: gone, checked again in full')
  tokens.set('c', p('c'), t0 / 1000 + 3600, t0)
  tokens.set('d', p('d'), t0 / 1000 + 3600, t0)
  tokens.set('e', p('e'), t0 / 1000 + 3600, t0)
  t.same(['c', 'd', 'e'].map(k => tokens.get(k, t0)?.sub ?? null), [null, 'd', 'e'], 'at most maxEntries, the oldest forgotten')
  t.equal(tokens.get('unknown', t0), null)
})
