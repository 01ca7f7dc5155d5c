import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import { parse } from 'yaml'
import app from '../src/app.js'
import { testConfig, testDatabase, testServerOptions } from './helper.js'

t.test('GET /openapi.yaml serves a document describing exactly the registered REST routes', async (t) => {
  const config = testConfig()
  const fastify = Fastify(testServerOptions(config))
  const routes = new Set<string>()
  fastify.addHook('onRoute', (r) => {
    // HEAD mirrors GET; OPTIONS * is the CORS preflight, not an API operation.
    for (const m of [r.method].flat()) if (m !== 'HEAD' && m !== 'OPTIONS' && !r.url.startsWith('/graphql')) routes.add(`${m.toLowerCase()} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
  })
  await fastify.register(fp(app), { config, database: await testDatabase() })
  t.teardown(() => fastify.close())
  const res = await fastify.inject('/openapi.yaml')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], 'application/yaml')
  const doc = parse(res.body) as { openapi: string, paths: Record<string, Record<string, unknown>> }
  t.match(doc.openapi, /^3\.1/)
  const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter(k => k !== 'parameters').map(m => `${m} ${path}`)))
  t.same([...routes].sort(), [...documented].sort())
})
