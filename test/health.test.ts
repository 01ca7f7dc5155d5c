import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import app from '../src/app.js'
import { buildApp, machinePgDatabase, pgProxy, testConfig, testServerOptions, token } from './helper.js'

t.test('/healthz answers while the process runs; /readyz while the database answers', async (t) => {
  const { app } = await buildApp(t)
  t.equal((await app.inject('/healthz')).statusCode, 200)
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', rateLimits: 'local', replicas: [] }, 'without REDIS_URL the rate limits count in the process; no read replica')
})

t.test('the database stops under a running app: /readyz turns 503, errors are masked, and it recovers', async (t) => {
  const { url: direct } = await machinePgDatabase()

  const proxy = await pgProxy()
  const url = new URL(direct)
  url.host = `127.0.0.1:${proxy.port}`
  const logs: string[] = []
  const config = testConfig({ DATABASE_URL: url.toString(), LOG_LEVEL: 'info' })
  const fastify = Fastify(testServerOptions(config, line => logs.push(line)))
  await fastify.register(fp(app), { config })
  t.teardown(async () => { await fastify.close(); await proxy.stop().catch(() => {}) })
  const auth = { authorization: `Bearer ${await token({ sub: 'ops', role: 'ADMIN', region: '4112' })}` }

  t.equal((await fastify.inject('/readyz')).statusCode, 200)
  t.equal((await fastify.inject({ url: '/api/v1/me', headers: auth })).statusCode, 200)

  await proxy.stop()
  const down = await fastify.inject('/readyz')
  t.equal(down.statusCode, 503)
  t.equal((await fastify.inject('/healthz')).statusCode, 200, 'the process still runs')

  const gql = await fastify.inject({ method: 'POST', url: '/graphql', headers: auth, payload: { query: '{ region(code: "411224") { name } }' } })
  const body = gql.json()
  t.equal(gql.statusCode, 503, 'GraphQL too: 503, the client may retry')
  t.equal(gql.headers['retry-after'], '10')
  t.match(body.errors[0], { message: 'The database is unavailable; retry later', extensions: { code: 'INTERNAL', reason: 'SERVICE_UNAVAILABLE' } }, 'no detail reaches the client')
  t.notMatch(gql.body, /ECONNREFUSED|connect|127\.0\.0\.1|regions/)
  const rest = await fastify.inject({ url: '/api/v1/regions/411224', headers: auth })
  t.equal(rest.statusCode, 503, 'REST: 503, the client may retry')
  t.equal(rest.headers['retry-after'], '10')
  t.match(rest.json(), { status: 503, detail: 'The database is unavailable; retry later' })
  t.notMatch(rest.body, /ECONNREFUSED|connect|select/i)
  t.match(logs.join(''), /"level":50/, 'the detail is in the log')

  await proxy.start()
  let status = 0
  for (let i = 0; i < 20 && status !== 200; i++) {
    status = (await fastify.inject('/readyz')).statusCode
    if (status !== 200) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'ready again once the database is back')
  const again = await fastify.inject({ method: 'POST', url: '/graphql', headers: auth, payload: { query: '{ region(code: "411224") { name } }' } })
  t.same(again.json(), { data: { region: { name: '卢氏县' } } })
})
