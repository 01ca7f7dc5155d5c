/**
 * The tools front-end and integration developers point at the service (issue 21):
 * GraphiQL working with no network (every file it loads served by the app itself), the
 * standard introspection query in development (refused in production), and
 * graphql-codegen's schema loader (@graphql-tools/url-loader) reading the schema from
 * the running app's URL.
 */
import { readFileSync } from 'node:fs'
import { loadSchema } from '@graphql-tools/load'
import { UrlLoader } from '@graphql-tools/url-loader'
import { buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from 'graphql'
import t from 'tap'
import { paths } from '../src/paths.js'
import { buildApp, testConfig } from './helper.js'

const ADMIN = { sub: 'graphiql-admin', role: 'ADMIN', region: '4112' }

t.test('GraphiQL: the page and every file it loads come from the app, none from another host', async (t) => {
  const { app } = await buildApp(t, { config: testConfig({ NODE_ENV: 'development' }) })
  const page = await app.inject('/graphiql')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.notMatch(page.body, /https?:\/\//, 'no absolute URL in the page')
  t.notMatch(page.body, /(src|href)="\/\//, 'no protocol-relative URL either')

  // What the page loads: its stylesheet and module (link/import), and Monaco's three workers.
  const referenced = new Set([...page.body.matchAll(/\/graphiql\/static\/[\w.-]+/g)].map(m => m[0]))
  for (const m of page.body.matchAll(/worker\("([\w.-]+)"\)/g)) referenced.add(`/graphiql/static/${m[1]!}`)
  t.ok(referenced.has('/graphiql/static/ruru.js') && referenced.has('/graphiql/static/ruru.css'), 'the page loads the bundle')
  t.ok(referenced.has('/graphiql/static/graphqlWorker.js'), 'and the editor workers')
  const files = new Map<string, string>()
  for (const url of referenced) {
    const res = await app.inject({ url, headers: { 'accept-encoding': 'gzip' } })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], /^(text\/javascript|text\/css)/, `${url}: ${String(res.headers['content-type'])}`)
    t.equal(res.headers['content-encoding'], undefined, `${url}: decompressed for a client without brotli`)
    files.set(url, res.body)
  }
  // The bundle's own references: its stylesheet chunk names a font; scripts import only relative chunks.
  const css = [...files.values()].join('\n')
  for (const m of css.matchAll(/url\(([\w.-]+\.(?:ttf|woff2?))\)/g)) {
    t.equal((await app.inject(`/graphiql/static/${m[1]!}`)).statusCode, 200, `font ${m[1]!}`)
  }
  for (const [url, body] of files) t.notMatch(body, /(import\(|importScripts\(|url\()\s*["']?(https?:)?\/\//, `${url} loads nothing from another host`)

  const brotli = await app.inject({ url: '/graphiql/static/ruru.js', headers: { 'accept-encoding': 'br' } })
  t.equal(brotli.headers['content-encoding'], 'br', 'sent compressed to a browser')
  t.equal((await app.inject({ url: '/graphiql/static/ruru.js', headers: { 'if-none-match': String(brotli.headers.etag) } })).statusCode, 304)
  t.equal((await app.inject('/graphiql/static/nothing.js')).statusCode, 404)
})

t.test('getIntrospectionQuery() (depth 15) answers in development and is refused in production', async (t) => {
  const query = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, inputValueDeprecation: true })
  const dev = await buildApp(t, { config: testConfig({ NODE_ENV: 'development' }) })
  const d = await dev.as(ADMIN).gql(query)
  t.equal(d.status, 200)
  t.equal(d.errors, undefined)
  t.equal(d.data.__schema.queryType.name, 'Query')

  // The depth limit still holds for the data: 13 levels of region children are refused.
  const deep = `{ region(code: "41") { ${'children { '.repeat(12)} code ${'} '.repeat(12)} } }`
  t.match((await dev.as(ADMIN).gql(deep)).errors?.[0], { extensions: { code: 'BAD_USER_INPUT', limit: 'depth' } }, 'and not for the data')
  const hidden = `{ region(code: "41") { ...deep } } fragment deep on Region { ${'children { '.repeat(12)} code ${'} '.repeat(12)} }`
  t.match((await dev.as(ADMIN).gql(hidden)).errors?.[0], { extensions: { limit: 'depth' } }, 'behind a fragment neither')

  const prod = await buildApp(t, { config: testConfig({ NODE_ENV: 'production' }) })
  const p = await prod.as(ADMIN).gql(query)
  t.equal(p.status, 400)
  t.equal(p.data, null)
  t.equal(p.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.match(p.errors?.[0]?.message, /introspection/i)
})

t.test("graphql-codegen's URL loader reads the schema from the running app", async (t) => {
  const { app, as } = await buildApp(t, { config: testConfig({ NODE_ENV: 'development' }) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const admin = as(ADMIN)
  await admin.gql('{ me { sub } }')
  const loaded = await loadSchema(`http://127.0.0.1:${port}/graphql`, { loaders: [new UrlLoader()], headers: { authorization: `Bearer ${admin.token}` } })
  const committed = buildSchema(readFileSync(paths.schema, 'utf8'))
  t.equal(printSchema(lexicographicSortSchema(loaded)), printSchema(lexicographicSortSchema(committed)), 'the schema as served is graphql/schema.graphql')
})
