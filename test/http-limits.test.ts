/**
 * HTTP limits (OWASP API4): body size, rate limits per user and per address, request
 * and statement timeouts, load shedding. Each refusal has the documented shape.
 */
import net from 'node:net'
import { Readable } from 'node:stream'
import { sql } from 'drizzle-orm'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import fp from 'fastify-plugin'
import pg from 'pg'
import t, { type Test } from 'tap'
import app, { CLOSE_GRACE_MS, serverOptions } from '../src/app.js'
import { isDatabaseBusy, withoutStatementTimeout } from '../src/db/index.js'
import { buildApp, machinePgDatabase, testConfig, token, uniqueSub } from './helper.js'

const VILLAGE = '411224101201'

function isProblem (t: Test, res: LightMyRequestResponse, status: number, code: string): void {
  t.equal(res.statusCode, status)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { type: `urn:beneficiary-registry:problem:${status}`, status, code, detail: String })
}

/** GraphQL keeps the contract's codes: a "retry later" (429, 503) is INTERNAL with its reason beside it. */
function isGraphQLError (t: Test, res: LightMyRequestResponse, status: number, code: string): void {
  t.equal(res.statusCode, status)
  t.match(res.headers['content-type'], /^application\/json/)
  const retryLater = code === 'TOO_MANY_REQUESTS' || code === 'SERVICE_UNAVAILABLE'
  t.match(res.json(), { data: null, errors: [{ message: String, extensions: retryLater ? { code: 'INTERNAL', reason: code } : { code } }] })
}

const bearer = async (claims: Parameters<typeof token>[0]): Promise<Record<string, string>> => ({ authorization: `Bearer ${await token(claims)}` })

t.test('bodies over the limit: 413 problem+json on REST, 413 GraphQL-shaped on /graphql; the import upload streams past it', async (t) => {
  const { app } = await buildApp(t, { config: testConfig({ BODY_LIMIT_KB: '16' }) })
  const hospital = await bearer({ sub: uniqueSub('hospital'), role: 'EXCHANGE', region: '4112', dept: 'health' })
  const admin = await bearer({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const big = 'x'.repeat(20 * 1024)

  const rest = await app.inject({ method: 'POST', url: '/api/v1/eligibility', headers: hospital, payload: { nationalIds: [big] } })
  isProblem(t, rest, 413, 'BAD_USER_INPUT')
  t.same(rest.json().errors, [{ path: 'body', message: 'is larger than the limit of 16 KiB' }])

  const gql = await app.inject({ method: 'POST', url: '/graphql', headers: admin, payload: { query: `{ me { sub } } # ${big}` } })
  isGraphQLError(t, gql, 413, 'BAD_USER_INPUT')
  t.same(gql.json().errors[0].extensions.fields, [{ path: 'body', message: 'is larger than the limit of 16 KiB' }])

  // Without a Content-Length (chunked): refused as well, once the limit is passed.
  const chunked = await app.inject({ method: 'POST', url: '/graphql', headers: { ...admin, 'content-type': 'application/json' }, payload: Readable.from([JSON.stringify({ query: `{ me { sub } } # ${big}` })]) })
  isGraphQLError(t, chunked, 413, 'BAD_USER_INPUT')

  // The import route reads no JSON at all: 415, whatever its size.
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/exchange/jobs?kind=health.insurance', headers: hospital, payload: { rows: big } })).statusCode, 415)

  // Under the limit, all is as usual.
  t.equal((await app.inject({ method: 'POST', url: '/graphql', headers: admin, payload: { query: `{ me { role } } # ${'x'.repeat(8 * 1024)}` } })).json().data.me.role, 'ADMIN')

  // The import upload is streamed to storage and bounded by IMPORT_MAX_MB, not by the body limit.
  const rows = Array.from({ length: 600 }, (_, i) => JSON.stringify({ national_id: `41122419750302${String(i).padStart(4, '0')}`, year: 2019, medical_insurance: true, serious_illness_insurance: false })).join('\n') + '\n'
  t.ok(rows.length > 32 * 1024)
  const upload = await app.inject({ method: 'POST', url: '/api/v1/exchange/jobs?kind=health.insurance', headers: { ...hospital, 'content-type': 'application/x-ndjson' }, payload: rows })
  t.equal(upload.statusCode, 202, 'a 40 KiB import file is accepted with a 16 KiB body limit')
  const { app: small } = await buildApp(t, { config: testConfig({ IMPORT_MAX_MB: '1' }) })
  const over = await small.inject({ method: 'POST', url: '/api/v1/exchange/jobs?kind=health.insurance', headers: { ...hospital, 'content-type': 'application/x-ndjson' }, payload: rows.repeat(30) })
  isProblem(t, over, 413, 'BAD_USER_INPUT')
  t.same(over.json().errors, [{ path: 'body', message: 'is larger than the limit of 1 MiB' }], 'a file over IMPORT_MAX_MB')

  const { app: usual } = await buildApp(t)
  const mib = await usual.inject({ method: 'POST', url: '/graphql', headers: admin, payload: { query: `{ me { sub } } # ${'x'.repeat(1024 * 1024)}` } })
  isGraphQLError(t, mib, 413, 'BAD_USER_INPUT')
  t.match(mib.json().errors[0].message, /1 MiB/, 'the default limit is 1 MiB')
})

t.test('rate limits: per user by role, per address without a valid token; 429 with Retry-After; probes exempt', async (t) => {
  const { app } = await buildApp(t, { config: testConfig({ RATE_LIMIT_PER_MINUTE: '3', RATE_LIMIT_EXCHANGE_PER_MINUTE: '5', RATE_LIMIT_IP_PER_MINUTE: '2', CORS_ORIGINS: 'https://fp.smx.gov.cn' }) })
  const me = async (headers: Record<string, string>, remoteAddress = '127.0.0.1'): Promise<LightMyRequestResponse> => await app.inject({ url: '/api/v1/me', headers, remoteAddress })

  const op = await bearer({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  for (let i = 1; i <= 3; i++) {
    const res = await me(op)
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-limit'], '3')
    t.equal(res.headers['x-ratelimit-remaining'], String(3 - i))
  }
  const refused = await me(op)
  isProblem(t, refused, 429, 'TOO_MANY_REQUESTS')
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After in seconds (${retryAfter})`)
  isGraphQLError(t, await app.inject({ method: 'POST', url: '/graphql', headers: op, payload: { query: '{ me { sub } }' } }), 429, 'TOO_MANY_REQUESTS')
  t.equal((await me(op, '10.9.9.9')).statusCode, 429, 'the budget is the user\'s, whatever its address')

  t.equal((await me(await bearer({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE }))).statusCode, 200, 'another user from the same address has its own budget')

  const hospital = await bearer({ sub: uniqueSub('hospital'), role: 'EXCHANGE', region: '4112', dept: 'health' })
  for (let i = 0; i < 5; i++) t.equal((await me(hospital)).statusCode, 200, 'an EXCHANGE system has the larger budget')
  t.equal((await me(hospital)).statusCode, 429)

  // Without a valid token the address pays: a flood of bad tokens is cut off.
  const forged = { authorization: `Bearer ${(await token({ sub: 'x', role: 'ADMIN', region: '4112' })).slice(0, -4)}AAAA` }
  t.equal((await me(forged, '10.1.1.1')).statusCode, 401)
  t.equal((await me({}, '10.1.1.1')).statusCode, 401)
  isProblem(t, await me(forged, '10.1.1.1'), 429, 'TOO_MANY_REQUESTS')
  t.equal((await app.inject({ url: '/openapi.yaml', remoteAddress: '10.1.1.1' })).statusCode, 429, 'public routes count by address too')
  t.equal((await me(forged, '10.1.1.2')).statusCode, 401, 'another address is not affected')
  t.equal((await me(await bearer({ sub: uniqueSub('viewer'), role: 'VIEWER', region: VILLAGE }), '10.1.1.1')).statusCode, 200, 'a valid user behind that address is not affected')

  for (let i = 0; i < 10; i++) {
    t.equal((await app.inject({ method: 'OPTIONS', url: '/graphql', remoteAddress: '10.1.1.1', headers: { origin: 'https://fp.smx.gov.cn', 'access-control-request-method': 'POST' } })).statusCode, 204, 'CORS preflights are not counted')
    t.equal((await app.inject({ url: '/healthz', remoteAddress: '10.1.1.1' })).statusCode, 200)
    t.equal((await app.inject({ url: '/readyz', remoteAddress: '10.1.1.1' })).statusCode, 200)
  }
})

t.test('behind a trusted proxy the client address comes from X-Forwarded-For', async (t) => {
  const { app } = await buildApp(t, { config: testConfig({ RATE_LIMIT_IP_PER_MINUTE: '1', TRUST_PROXY: '127.0.0.1' }) })
  const anonymous = async (client: string): Promise<number> => (await app.inject({ url: '/api/v1/me', headers: { 'x-forwarded-for': client } })).statusCode
  t.equal(await anonymous('203.0.113.7'), 401)
  t.equal(await anonymous('203.0.113.7'), 429)
  t.equal(await anonymous('203.0.113.8'), 401, 'another client behind the same proxy')
})

t.test('the test suite runs without rate limits unless a test sets them (defaults: test/config.test.ts)', async (t) => {
  const { app } = await buildApp(t)
  const viewer = await bearer({ sub: uniqueSub('viewer'), role: 'VIEWER', region: VILLAGE })
  for (let i = 0; i < 30; i++) t.equal((await app.inject({ url: '/api/v1/me', headers: viewer })).statusCode, 200)
  t.equal((await app.inject({ url: '/api/v1/me', headers: viewer })).headers['x-ratelimit-limit'], undefined)
})

t.test('load shedding: over a threshold every request but the probes is answered 503 with Retry-After', async (t) => {
  // Any heap is over 1 MiB: from the first sample (each second) on, the process sheds.
  const { app } = await buildApp(t, { config: testConfig({ LOAD_SHED_HEAP_MB: '1' }) })
  const admin = await bearer({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await new Promise(resolve => setTimeout(resolve, 1200))
  const rest = await app.inject({ url: '/api/v1/me', headers: admin })
  isProblem(t, rest, 503, 'SERVICE_UNAVAILABLE')
  t.equal(rest.headers['retry-after'], '10')
  t.match(rest.json().detail, /overloaded \(heapUsedBytes\)/)
  const gql = await app.inject({ method: 'POST', url: '/graphql', headers: admin, payload: { query: '{ me { sub } }' } })
  isGraphQLError(t, gql, 503, 'SERVICE_UNAVAILABLE')
  t.equal(gql.headers['retry-after'], '10')
  t.equal((await app.inject('/healthz')).statusCode, 200, 'liveness still answers')
  t.equal((await app.inject('/readyz')).statusCode, 200, 'readiness still answers')
})

t.test('load shedding on event-loop delay, and recovery once the loop is free again', async (t) => {
  const { app } = await buildApp(t, { config: testConfig({ LOAD_SHED_EVENT_LOOP_DELAY_MS: '20' }) })
  const admin = await bearer({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const me = async (): Promise<LightMyRequestResponse> => await app.inject({ url: '/api/v1/me', headers: admin })
  /**
   * Polls until the app answers `status` (the delay is sampled once a second, and a sample
   * may be taken before the blocked loop's delay is recorded: then the next one shows it).
   */
  const polled = async (status: number): Promise<LightMyRequestResponse> => {
    let res = await me()
    for (let i = 0; i < 50 && res.statusCode !== status; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      res = await me()
    }
    return res
  }
  t.equal((await polled(200)).statusCode, 200, 'a free loop serves')
  // A loop kept busy for 3 s in 300-ms slices (a runaway computation that yields now and then): every 1-s
  // sample window holds several 300-ms delays, so its mean is far over 20 ms. One long block alone can go
  // unseen: taking a sample resets the histogram's last tick, so a block that ends just as a sample is
  // taken records no delay at all (a CI run met this once).
  for (let slice = 0; slice < 10; slice++) {
    const until = Date.now() + 300
    while (Date.now() < until) { /* busy */ }
    await new Promise(resolve => setImmediate(resolve))
  }
  isProblem(t, await polled(503), 503, 'SERVICE_UNAVAILABLE')
  t.equal((await app.inject('/healthz')).statusCode, 200)
  t.equal((await polled(200)).statusCode, 200, 'serves again once the delay is gone')
})

/** Writes raw bytes to the listening app and collects what comes back until the socket closes. */
async function rawExchange (port: number, bytes: string): Promise<{ text: string, ms: number }> {
  const started = Date.now()
  return await new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.write(bytes) })
    let text = ''
    socket.on('data', (d) => { text += d.toString() })
    socket.on('error', reject)
    socket.on('close', () => { resolve({ text, ms: Date.now() - started }) })
    setTimeout(() => { socket.destroy(); reject(new Error('the server kept the socket open')) }, 10_000).unref()
  })
}

t.test('request timeout: a request still arriving after REQUEST_TIMEOUT_MS is cut off (408); an idle one too', async (t) => {
  const config = testConfig({ REQUEST_TIMEOUT_MS: '300', CONNECTION_TIMEOUT_MS: '400' })
  // Node checks request deadlines every connectionsCheckingInterval (30 s by default): quicker here.
  const options = serverOptions(config) as ReturnType<typeof serverOptions> & { http?: object }
  t.same(options.http, { headersTimeout: 300 }, 'the headers\' timeout is not longer than the request\'s')
  const fastify = Fastify({ ...options, http: { ...options.http, connectionsCheckingInterval: 50 } })
  const { testDatabase } = await import('./helper.js')
  await fastify.register(fp(app), { config, database: await testDatabase() })
  await fastify.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await fastify.close() })
  t.equal(fastify.server.requestTimeout, 300)
  t.equal(fastify.server.timeout, 400)
  const port = (fastify.server.address() as net.AddressInfo).port

  const auth = (await bearer({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })).authorization!
  const slow = await rawExchange(port, `POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":`)
  t.match(slow.text, /^HTTP\/1\.1 408/, 'a body that never completes is answered 408')
  t.ok(slow.ms >= 250 && slow.ms < 5000, `cut off after the timeout (${slow.ms} ms)`)

  const idle = await rawExchange(port, '')
  t.ok(idle.text === '' || idle.text.startsWith('HTTP/1.1 408'), 'nothing but a 408')
  t.ok(idle.ms >= 250 && idle.ms < 5000, `a connection that sends nothing is closed (${idle.ms} ms)`)

  const ok = await fetch(`http://127.0.0.1:${port}/healthz`)
  t.equal(ok.status, 200, 'a prompt request is served')
})

t.test('closing cuts, after CLOSE_GRACE_MS, a connection whose request never completes (the close is not held until the request times out)', async (t) => {
  const config = testConfig()
  const fastify = Fastify(serverOptions(config))
  const { testDatabase } = await import('./helper.js')
  await fastify.register(fp(app), { config, database: await testDatabase() })
  await fastify.listen({ host: '127.0.0.1', port: 0 })
  const port = (fastify.server.address() as net.AddressInfo).port
  // A body announced and never sent: the request stays in flight (REQUEST_TIMEOUT_MS is 300 s).
  const socket = net.connect(port, '127.0.0.1')
  await new Promise(resolve => socket.once('connect', resolve))
  socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":')
  socket.on('error', () => {})
  t.teardown(() => { socket.destroy() })
  await new Promise(resolve => setTimeout(resolve, 200))
  const started = Date.now()
  await fastify.close()
  const ms = Date.now() - started
  t.ok(ms >= CLOSE_GRACE_MS - 100 && ms < CLOSE_GRACE_MS + 3_000, `closed after the grace (${ms} ms), not at the request's timeout`)
})

t.test('statement timeout (PostgreSQL): applied to every pooled connection; a cancelled statement is 503, not 500; long work by design lifts it', async (t) => {
  const { url } = await machinePgDatabase()

  const config = testConfig({ DATABASE_URL: url, DB_STATEMENT_TIMEOUT_MS: '500' })
  const fastify = Fastify(serverOptions(config))
  await fastify.register(fp(app), { config })
  t.teardown(async () => { await fastify.close() })
  const rows = async (query: ReturnType<typeof sql>): Promise<unknown[]> => ((await fastify.db.execute(query)) as unknown as { rows: unknown[] }).rows
  t.same(await rows(sql`SHOW statement_timeout`), [{ statement_timeout: '500ms' }])

  const auth = await bearer({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  t.equal((await fastify.inject({ url: '/api/v1/households', headers: auth })).statusCode, 200)

  // Another session holds the households table: the route's query waits, and is cancelled after 500 ms.
  const locker = new pg.Client({ connectionString: url })
  await locker.connect()
  t.teardown(async () => { await locker.end() })
  await locker.query('BEGIN')
  await locker.query('LOCK TABLE households IN ACCESS EXCLUSIVE MODE')
  const started = Date.now()
  const rest = await fastify.inject({ url: '/api/v1/households', headers: auth })
  t.ok(Date.now() - started < 3000, 'answered promptly')
  isProblem(t, rest, 503, 'SERVICE_UNAVAILABLE')
  t.equal(rest.json().detail, 'The database did not answer in time; retry later')
  t.equal(rest.headers['retry-after'], '10')
  const gql = await fastify.inject({ method: 'POST', url: '/graphql', headers: auth, payload: { query: '{ households(first: 1) { totalCount } }' } })
  t.equal(gql.statusCode, 503)
  t.match(gql.json(), { errors: [{ message: 'The database did not answer in time; retry later', path: ['households'], extensions: { code: 'INTERNAL', reason: 'SERVICE_UNAVAILABLE' } }] })
  t.notMatch(gql.body + rest.body, /households IN|canceling|57014/, 'no database detail reaches the client')
  await locker.query('ROLLBACK')
  t.equal((await fastify.inject({ url: '/api/v1/households', headers: auth })).statusCode, 200, 'serves again once the lock is gone')

  // Work that is long by design (the statistics summary's rebuild) lifts the timeout for its transaction only.
  await t.rejects(fastify.db.execute(sql`SELECT pg_sleep(1)`), { cause: { code: '57014' } })
  await fastify.db.transaction(async (tx) => {
    await withoutStatementTimeout(tx)
    await tx.execute(sql`SELECT pg_sleep(1)`)
  })
  t.same(await rows(sql`SHOW statement_timeout`), [{ statement_timeout: '500ms' }], 'the pool keeps its timeout afterwards')
})

t.test('what counts as the database being busy', async (t) => {
  t.ok(isDatabaseBusy(Object.assign(new Error('Failed query'), { cause: Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }) })))
  t.ok(isDatabaseBusy(new Error('timeout exceeded when trying to connect')), 'no pooled connection free in time')
  t.notOk(isDatabaseBusy(Object.assign(new Error('duplicate key'), { code: '23505' })))
  t.notOk(isDatabaseBusy(new Error('connect ECONNREFUSED 127.0.0.1:5432')))
  t.notOk(isDatabaseBusy(undefined))
})
