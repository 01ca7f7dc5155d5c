import t from 'tap'
import { buildApp, testConfig, token } from './helper.js'

const ADMIN = { sub: 'headers-admin', role: 'ADMIN', region: '4112' } as const

t.test('security headers on every answer, API and errors alike', async (t) => {
  const { app } = await buildApp(t)
  for (const res of [await app.inject('/healthz'), await app.inject('/api/v1/me'), await app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${await token(ADMIN)}` } })]) {
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
    t.match(res.headers['strict-transport-security'], /max-age=/)
    t.match(res.headers['content-security-policy'], /default-src 'self'/)
  }
})

t.test('CORS: only the configured origins, preflight included; none by default', async (t) => {
  const allowed = 'https://fp.smx.gov.cn'
  const { app } = await buildApp(t, { config: testConfig({ CORS_ORIGINS: `${allowed},http://127.0.0.1:5173` }) })
  const preflight = await app.inject({ method: 'OPTIONS', url: '/graphql', headers: { origin: allowed, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], allowed)
  const auth = { authorization: `Bearer ${await token(ADMIN)}` }
  t.equal((await app.inject({ url: '/api/v1/me', headers: { ...auth, origin: allowed } })).headers['access-control-allow-origin'], allowed)
  const other = await app.inject({ url: '/api/v1/me', headers: { ...auth, origin: 'https://evil.example' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'another origin gets no CORS permission')
  const otherPreflight = await app.inject({ method: 'OPTIONS', url: '/graphql', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
  t.equal(otherPreflight.headers['access-control-allow-origin'], undefined)

  const { app: closed } = await buildApp(t)
  t.equal((await closed.inject({ url: '/api/v1/me', headers: { ...auth, origin: allowed } })).headers['access-control-allow-origin'], undefined, 'no origins configured: none allowed')
})

t.test('CORS_ORIGINS must list origins', async (t) => {
  t.throws(() => testConfig({ CORS_ORIGINS: 'fp.smx.gov.cn' }), /CORS_ORIGINS/)
  t.throws(() => testConfig({ CORS_ORIGINS: 'https://fp.smx.gov.cn/path' }), /CORS_ORIGINS/)
})

t.test('a large answer in Chinese keeps its type, its exact UTF-8 length and its text (sent as one buffer)', async (t) => {
  const { app } = await buildApp(t)
  const res = await app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${await token(ADMIN)}` }, payload: { query: '{ a: labels(locale: "zh") { enum value label } b: labels(locale: "zh") { enum value label } c: labels(locale: "zh") { enum value label } }' } })
  t.equal(res.statusCode, 200)
  t.ok(res.body.length > 16_384, `large enough to be sent as a buffer (${res.body.length} characters)`)
  t.match(res.headers['content-type'], /^application\/json; charset=utf-8$/)
  t.equal(Number(res.headers['content-length']), res.rawPayload.length)
  t.equal(res.rawPayload.toString('utf8'), JSON.stringify(res.json()), 'the same text, encoded as UTF-8')
  t.ok(res.json().data.a.some((l: { label: string }) => /[\u4e00-\u9fff]/.test(l.label)), 'Chinese labels among them')
})
