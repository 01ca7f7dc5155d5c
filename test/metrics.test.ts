/**
 * Operations (issue 21): GET /metrics for ADMIN users and METRICS_TOKEN only; requests
 * counted and timed per route and per GraphQL operation; the database connections and
 * the import queue; a gauge added by another module; sub, role and the GraphQL
 * operation name on the request's log lines.
 */
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import t from 'tap'
import app from '../src/app.js'
import { exchangeJobs } from '../src/db/schema/index.js'
import { buildApp, testConfig, testDatabase, testServerOptions, token, uniqueSub, USING_PG } from './helper.js'

const METRICS_TOKEN = 'metrics-token-for-the-test-suite-0123456789'
const config = testConfig({ METRICS_TOKEN })

/** The value of one series in Prometheus text, or undefined. */
function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([\w:]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(l => [l[1]!, l[2]!]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3])
  }
  return undefined
}

t.test('GET /metrics: ADMIN users and METRICS_TOKEN only', async (t) => {
  const { app } = await buildApp(t, { config })
  const get = async (authorization?: string): Promise<number> =>
    (await app.inject({ url: '/metrics', headers: authorization === undefined ? {} : { authorization } })).statusCode
  t.equal(await get(), 401, 'no token')
  t.equal(await get('Bearer not-the-metrics-token-but-long-enough-0123456789'), 401, 'another static token')
  t.equal(await get(METRICS_TOKEN), 401, 'the metrics token without the Bearer scheme')
  for (const role of ['VIEWER', 'OPERATOR', 'REVIEWER', 'AUDITOR'] as const) {
    t.equal(await get(`Bearer ${await token({ sub: uniqueSub(), role, region: '4112' })}`), 403, role)
  }
  t.equal(await get(`Bearer ${await token({ sub: uniqueSub(), role: 'EXCHANGE', region: '4112', dept: 'health' })}`), 403, 'EXCHANGE')
  t.equal(await get(`Bearer ${await token({ sub: uniqueSub(), role: 'ADMIN', region: '411224' })}`), 200, 'ADMIN')
  const res = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  t.equal(res.statusCode, 200, 'METRICS_TOKEN')
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.ok(sample(res.body, 'process_resident_memory_bytes')! > 0, "Node's process metrics")

  const other = await buildApp(t)
  t.equal((await other.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode, 401, 'without METRICS_TOKEN configured, a static token opens nothing')
})

t.test('requests per route and per GraphQL operation, connections, the import queue, a module\'s own gauge', async (t) => {
  const { app, as, database } = await buildApp(t, { config })
  const user = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224101201' })
  for (let i = 0; i < 3; i++) t.equal((await user.get('/api/v1/me')).statusCode, 200)
  t.equal((await user.get(`/api/v1/households/${'00000000-0000-4000-8000-000000000000'}`)).statusCode, 404)
  await user.gql('query WhoAmI { me { sub } }')
  await user.gql('query WhoAmI { me { sub } }')
  await user.gql('{ me { role } }')
  const many = await app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${user.token}` }, payload: { query: 'query A { me { sub } } query B { me { role } }', operationName: 'B' } })
  t.equal(many.statusCode, 200)

  // Import jobs another worker holds (a lease into the future) and one still uploading.
  const base = { kind: 'dibao', format: 'csv', charset: 'utf-8', submittedBy: uniqueSub('x'), submitterRole: 'ADMIN', regionCode: '4112', createdAt: new Date() }
  await database.db.insert(exchangeJobs).values([
    { ...base, status: 'running', bytes: 5000, received: 40, leaseOwner: 'another-instance', leaseUntil: new Date(Date.now() + 3_600_000) },
    { ...base, status: 'running', bytes: 7000, received: 2, leaseOwner: 'another-instance', leaseUntil: new Date(Date.now() + 3_600_000) },
    { ...base, status: 'receiving', bytes: 100 }
  ])

  new Gauge({ name: 'audit_test_lag', help: 'a gauge registered by another module', registers: [app.metrics.registry], collect () { this.set(42) } })

  const text = (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).body
  t.equal(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/me', status_code: '200' }), 3, 'per route pattern and status')
  t.equal(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/households/:id', status_code: '404' }), 1, 'the pattern, not the URL')
  t.notMatch(text, /00000000-0000/, 'no id in a label')
  t.ok(sample(text, 'http_request_duration_seconds_bucket', { route: '/api/v1/me', le: '+Inf' }) === 3, 'a latency histogram')
  t.equal(sample(text, 'graphql_operation_duration_seconds_count', { operation: 'WhoAmI', type: 'query', status_code: '200' }), 2, 'per GraphQL operation name')
  t.equal(sample(text, 'graphql_operation_duration_seconds_count', { operation: 'anonymous', type: 'query' }), 1, 'an unnamed one')
  t.equal(sample(text, 'graphql_operation_duration_seconds_count', { operation: 'B' }), 1, 'the operation chosen by operationName')
  t.equal(sample(text, 'graphql_operation_duration_seconds_count', { operation: 'A' }), undefined)
  t.equal(sample(text, 'db_pool_connections', { state: 'max' }), USING_PG ? 5 : 1, 'the pool size (PGlite: one connection)')
  t.equal(sample(text, 'db_pool_connections', { state: 'waiting' }), USING_PG ? 0 : undefined)
  t.ok(sample(text, 'import_jobs', { status: 'running' })! >= 2, 'running jobs')
  t.ok(sample(text, 'import_jobs', { status: 'receiving' })! >= 1, 'uploads in progress')
  t.ok(sample(text, 'import_pending_bytes')! >= 12000, 'bytes to import')
  t.ok(sample(text, 'import_running_rows')! >= 42, 'rows the running jobs have done')
  t.equal(sample(text, 'audit_test_lag'), 42, 'a gauge another module registered on app.metrics.registry')
})

t.test('GraphQL operation names cannot grow the series without bound', async (t) => {
  const { app, as } = await buildApp(t, { config })
  const user = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224101201' })
  const { MAX_OPERATION_NAMES } = await import('../src/infra/metrics.js')
  for (let i = 0; i < MAX_OPERATION_NAMES + 5; i++) await user.gql(`query Q${i} { me { sub } }`)
  const text = (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).body
  const names = new Set([...text.matchAll(/graphql_operation_duration_seconds_count\{operation="([^"]+)"/g)].map(m => m[1]))
  t.equal(names.size, MAX_OPERATION_NAMES + 1, 'the first names, then "other"')
  t.equal(sample(text, 'graphql_operation_duration_seconds_count', { operation: 'other' }), 5)
})

t.test('request log lines carry sub, role and the GraphQL operation name', async (t) => {
  const lines: string[] = []
  const cfg = testConfig({ LOG_LEVEL: 'info' })
  const fastify = Fastify(testServerOptions(cfg, (line) => { lines.push(line) }))
  await fastify.register(fp(app), { config: cfg, database: await testDatabase() })
  t.teardown(() => fastify.close())
  const sub = uniqueSub('logged')
  const authorization = `Bearer ${await token({ sub, role: 'REVIEWER', region: '411224' })}`
  await fastify.inject({ method: 'POST', url: '/graphql', headers: { authorization }, payload: { query: 'query HouseholdsPage { me { sub } }' } })
  await fastify.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization } })
  const completed = lines.map(l => JSON.parse(l)).filter(l => l.msg === 'request completed' && l.sub === sub)
  t.equal(completed.length, 2, 'both requests')
  t.match(completed[0], { sub, role: 'REVIEWER', operation: 'HouseholdsPage' }, 'GraphQL: who and which operation')
  t.match(completed[1], { sub, role: 'REVIEWER' }, 'REST: who')
  t.equal(completed[1].operation, undefined)
})
