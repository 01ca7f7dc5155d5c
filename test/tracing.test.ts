/**
 * OpenTelemetry tracing (issue 21): `npm start` with OTEL_EXPORTER_OTLP_ENDPOINT pointing
 * at a collector in this test (a small HTTP server taking OTLP/HTTP JSON) exports, for
 * one GraphQL request, the HTTP request's span, the GraphQL operation's and the pg
 * queries', in one trace. On the machine's PostgreSQL (pg is what is instrumented).
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { projectRoot } from '../src/paths.js'
import { machinePgDatabase, TEST_DATA_KEY, TEST_SECRET, token } from './helper.js'
import { cleanEnv, freePort, run, waitReady } from './processes.js'

interface Span { traceId: string, spanId: string, parentSpanId?: string, name: string, kind: number, attributes: Array<{ key: string, value: Record<string, unknown> }> }

async function body (req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  return text
}

t.test('a GraphQL request exports its HTTP, GraphQL and pg spans over OTLP/HTTP', async (t) => {
  const spans: Span[] = []
  const paths: string[] = []
  const collector = createServer((req, res) => {
    void body(req).then((text) => {
      paths.push(`${req.method ?? ''} ${req.url ?? ''} ${String(req.headers['content-type'])}`)
      if (req.url === '/v1/traces') {
        const payload = JSON.parse(text) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }> }
        for (const rs of payload.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>(resolve => collector.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { collector.close() })

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
      LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
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

  const attr = (s: Span, key: string): unknown => { const v = s.attributes.find(a => a.key === key)?.value; return v === undefined ? undefined : Object.values(v)[0] }
  const find = (): { http?: Span, gql?: Span, pg?: Span } => {
    const http = spans.find(s => s.kind === 2 && attr(s, 'http.route') === '/graphql')
    const inTrace = spans.filter(s => s.traceId === http?.traceId)
    return {
      http,
      gql: inTrace.find(s => s.name.startsWith('graphql.execute') || s.name.startsWith('query TracedPage')),
      pg: inTrace.find(s => attr(s, 'db.system') === 'postgresql' || attr(s, 'db.system.name') === 'postgresql')
    }
  }
  const until = Date.now() + 30_000
  while (Date.now() < until && Object.values(find()).some(s => s === undefined)) await new Promise(resolve => setTimeout(resolve, 200))
  const { http, gql, pg } = find()
  t.ok(http, `the HTTP server span of POST /graphql (spans: ${[...new Set(spans.map(s => s.name))].join(', ')}; requests: ${[...new Set(paths)].join(', ')})`)
  t.ok(gql, 'the GraphQL operation, in the same trace')
  t.equal(gql === undefined ? undefined : attr(gql, 'graphql.operation.name'), 'TracedPage', 'named')
  t.ok(pg, 'a pg query, in the same trace')
  t.equal(attr(http!, 'graphql.operation.name'), undefined, 'probes aside, nothing else expected on the HTTP span')

  server.child.kill('SIGTERM')
  t.same(await server.exited, { code: 0, signal: null }, 'stops cleanly, spans flushed')
})
