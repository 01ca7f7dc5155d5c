/**
 * OpenTelemetry tracing (issue 21): `npm start` with OTEL_EXPORTER_OTLP_ENDPOINT pointing
 * at a collector in this test (a small HTTP server taking OTLP/HTTP JSON) exports, for
 * one GraphQL request, the HTTP request's span, the GraphQL operation's and the pg
 * queries', in one trace. On the machine's PostgreSQL (pg is what is instrumented).
 */
import t from 'tap'
import { projectRoot } from '../../src/paths.js'
import { machinePgDatabase, TEST_AUDIT_KEY, TEST_DATA_KEY, TEST_SECRET, token } from '../helper.js'
import { attr, cleanEnv, freePort, otlpCollector, run, waitForSpans, waitReady, type Span } from '../processes.js'

t.test('a GraphQL request exports its HTTP, GraphQL and pg spans over OTLP/HTTP', async (t) => {
  const collector = await otlpCollector()
  t.teardown(collector.close)
  const { spans } = collector

  const { url } = await machinePgDatabase()
  const port = await freePort()
  const server = run('npm', ['start'], {
    cwd: projectRoot,
    env: cleanEnv({
      NODE_ENV: 'production',
      PORT: String(port),
      DATABASE_URL: url,
      JWT_SECRET: TEST_SECRET,
      DATA_KEY: TEST_DATA_KEY,
      AUDIT_SIGNING_KEY: TEST_AUDIT_KEY,
      LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: '200'
    })
  })
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  await waitReady(server, port)

  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await token({ sub: 'tracing-admin', role: 'ADMIN', region: '4112' })}` },
    body: JSON.stringify({ query: 'query TracedPage { households(first: 1) { totalCount } }' })
  })
  t.equal(res.status, 200)

  const find = (): { http?: Span | undefined, gql?: Span | undefined, pg?: Span | undefined } => {
    const http = spans.find(s => s.kind === 2 && attr(s, 'http.route') === '/graphql')
    const inTrace = spans.filter(s => s.traceId === http?.traceId)
    return {
      http,
      gql: inTrace.find(s => s.name.startsWith('graphql.execute') || s.name.startsWith('query TracedPage')),
      pg: inTrace.find(s => attr(s, 'db.system') === 'postgresql' || attr(s, 'db.system.name') === 'postgresql')
    }
  }
  await waitForSpans(() => { const all = find(); return Object.values(all).every(s => s !== undefined) ? all : undefined })
  const { http, gql, pg } = find()
  t.ok(http, `the HTTP server span of POST /graphql (spans: ${[...new Set(spans.map(s => s.name))].join(', ')})`)
  t.ok(gql, 'the GraphQL operation, in the same trace')
  t.equal(gql === undefined ? undefined : attr(gql, 'graphql.operation.name'), 'TracedPage', 'named')
  t.ok(pg, 'a pg query, in the same trace')
  t.equal(attr(http!, 'graphql.operation.name'), undefined, 'probes aside, nothing else expected on the HTTP span')

  server.child.kill('SIGTERM')
  t.same(await server.exited, { code: 0, signal: null }, 'stops cleanly, spans flushed')
})
