/**
 * HTTP hardening (issue 17 item 6), over real sockets where the behaviour lives below
 * `inject`: the 413 that must arrive, the 431 as problem+json; and request ids,
 * Cache-Control and WWW-Authenticate.
 */
import http from 'node:http'
import fc from 'fast-check'
import net from 'node:net'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import app from '../src/app.js'
import { testConfig, testDatabase, testServerOptions, token } from './helper.js'

async function listening (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}): Promise<{ port: number, lines: string[] }> {
  const config = testConfig(env)
  const lines: string[] = []
  const fastify = Fastify(testServerOptions(config, line => lines.push(line)))
  await fastify.register(fp(app), { config, database: await testDatabase() })
  await fastify.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await fastify.close() })
  return { port: (fastify.server.address() as net.AddressInfo).port, lines }
}

/** Sends `body` in one request on a fresh connection; the status that came back, or the error. */
async function post (port: number, path: string, headers: Record<string, string>, body: Buffer, chunked = false): Promise<{ status?: number, type?: string, body?: string, error?: string }> {
  return await new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, ...(chunked ? {} : { 'content-length': String(body.length) }) }, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks).toString() }) })
      res.on('error', (err) => { resolve({ status: res.statusCode, error: (err as NodeJS.ErrnoException).code ?? err.message }) })
    })
    req.on('error', (err) => { resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }) })
    if (!chunked) { req.end(body); return }
    // Without a length: the body arrives in 64 KiB chunks and is refused once past the limit.
    let at = 0
    const next = (): void => {
      while (at < body.length) {
        const chunk = body.subarray(at, at + 65536)
        at += chunk.length
        if (!req.write(chunk)) { req.once('drain', next); return }
      }
      req.end()
    }
    next()
  })
}

/**
 * A client that sends its whole request before it reads (as curl and most blocking
 * clients do): the raw request is written on a paused socket, read only once written.
 */
async function sendThenRead (port: number, head: string, body: Buffer): Promise<{ status?: number, text: string, error?: string }> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.pause()
    const chunks: Buffer[] = []
    let error: string | undefined
    const done = (): void => {
      const text = Buffer.concat(chunks).toString()
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text)
      resolve({ ...(m !== null ? { status: Number(m[1]) } : {}), text, ...(error !== undefined ? { error } : {}) })
    }
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message })
    socket.on('close', done)
    socket.write(head)
    socket.end(body, () => { socket.resume() })
    // A write the server refused (reset) never calls back: read what came anyway.
    socket.on('error', () => { socket.resume() })
  })
}

t.test('a body over the limit always gets its 413 over a real socket (drained, not reset): 20 of 20', async (t) => {
  const { port } = await listening(t)
  const bearer = await token({ sub: 'big-sender', role: 'ADMIN', region: '411224' })
  const big = Buffer.alloc(5 * 1024 * 1024, 'a')
  const headers = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }
  for (const chunked of [false, true]) {
    const results = []
    for (let i = 0; i < 20; i++) results.push(await post(port, '/graphql', headers, big, chunked))
    t.same(results.map(r => r.status ?? r.error), Array(20).fill(413), `every try answered 413 (${chunked ? 'chunked' : 'Content-Length'})`)
    t.match(JSON.parse(results[0]!.body!), { errors: [{ extensions: { code: 'BAD_USER_INPUT', fields: [{ path: 'body' }] } }] })
    const rest = await post(port, '/api/v1/eligibility', headers, big, chunked)
    t.equal(rest.status ?? rest.error, 413, 'REST too')
    t.match(rest.type, /^application\/problem\+json/)
  }
  // The whole body written before anything is read: the 413 must still be there to read.
  const sent = []
  for (let i = 0; i < 20; i++) {
    sent.push(await sendThenRead(port, `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${bearer}\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n`, big))
  }
  t.same(sent.map(r => r.status ?? r.error), Array(20).fill(413), 'every try answered 413 (sent whole, then read)')
})

t.test('a body far over the limit is drained only so far: the connection is cut past DRAIN_AFTER_413_BYTES', async (t) => {
  const { DRAIN_AFTER_413_BYTES } = await import('../src/infra/http-errors.js')
  const { port } = await listening(t)
  const bearer = await token({ sub: 'huge-sender', role: 'ADMIN', region: '411224' })
  const declared = DRAIN_AFTER_413_BYTES * 4
  const outcome = await new Promise<{ text: string, sent: number }>((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let text = ''
    let sent = 0
    socket.on('data', (c: Buffer) => { text += c.toString() })
    socket.on('error', () => {})
    socket.on('close', () => { resolve({ text, sent }) })
    socket.write(`POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${bearer}\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`)
    const chunk = Buffer.alloc(1024 * 1024, 'a')
    const pump = (): void => {
      while (!socket.destroyed && sent < declared) {
        sent += chunk.length
        if (!socket.write(chunk)) { socket.once('drain', pump); return }
      }
    }
    pump()
  })
  t.match(outcome.text, /^HTTP\/1\.1 413/, 'the 413 came first')
  t.ok(outcome.sent < declared, `cut off before the client was done (${outcome.sent / 1024 / 1024} of ${declared / 1024 / 1024} MiB sent)`)
})

t.test('headers over the limit: 431 as problem+json, readable even by a client that sends first', async (t) => {
  const { port } = await listening(t)
  const res = await sendThenRead(port, `GET /api/v1/regions/4112 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`, Buffer.alloc(0))
  t.equal(res.status, 431)
  const [head, body] = res.text.split('\r\n\r\n')
  t.match(head, /content-type: application\/problem\+json; charset=utf-8/i)
  t.match(JSON.parse(body!), { type: 'urn:beneficiary-registry:problem:431', title: 'Request Header Fields Too Large', status: 431, code: 'BAD_USER_INPUT', errors: [{ path: 'headers' }] })
  const garbage = await sendThenRead(port, 'NOT HTTP AT ALL\r\n\r\n', Buffer.alloc(0))
  t.equal(garbage.status, 400, 'not HTTP: 400')
  t.match(JSON.parse(garbage.text.split('\r\n\r\n')[1]!), { status: 400, code: 'BAD_USER_INPUT', errors: [{ path: 'request' }] })
})

t.test('x-request-id: a plain one of at most 128 characters is kept, anything else replaced by a generated one', async (t) => {
  const { buildApp } = await import('./helper.js')
  const { app } = await buildApp(t)
  const idOf = async (value: string): Promise<string> => (await app.inject({ url: '/healthz', headers: { 'x-request-id': value } })).headers['x-request-id'] as string
  for (const kept of ['gateway-42', 'a'.repeat(128), 'trace:abc.DEF_1-2', '0f8b6a52-3f0e-4a4e-9d8c-2b7d2c0e7a11']) t.equal(await idOf(kept), kept, `kept: ${kept.slice(0, 20)}`)
  for (const bad of ['a'.repeat(129), 'two words', 'inject"quote', 'line\\nbreak', '<script>', 'ü', '{"a":1}', '']) {
    t.match(await idOf(bad), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `replaced: ${JSON.stringify(bad.slice(0, 20))}`)
  }
  t.match((await app.inject({ url: '/healthz' })).headers['x-request-id'], /^[0-9a-f-]{36}$/, 'generated when none is given')
  // Any header value a client can send: the id returned (and logged) is the value itself only when plain and short.
  const values = fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,140}$/), fc.string({ unit: fc.constantFrom(...'aZ09._:-/ "\'<>{}%\\\u00e9\u00ff'), minLength: 1, maxLength: 200 }))
  await fc.assert(fc.asyncProperty(values, async (value) => {
    const id = await idOf(value)
    return /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? id === value : /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)
  }), { numRuns: 300 })
})

t.test('API answers carry Cache-Control: no-store (errors too); 401 carries WWW-Authenticate: Bearer', async (t) => {
  const { buildApp, uniqueSub } = await import('./helper.js')
  const { app, as } = await buildApp(t)
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224' })
  const answers = {
    'GET REST': await op.get('/api/v1/regions/411224'),
    'REST 404': await op.get('/api/v1/households/0f8b6a52-3f0e-4a4e-9d8c-2b7d2c0e7a11'),
    'REST 403': await op.get('/api/v1/exchange/jobs/0f8b6a52-3f0e-4a4e-9d8c-2b7d2c0e7a11'),
    'no such route': await op.get('/api/v1/nothing'),
    GraphQL: await app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${op.token}` }, payload: { query: '{ me { sub } }' } }),
    'GraphQL 401': await app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ me { sub } }' } }),
    'REST 401': await app.inject({ url: '/api/v1/regions/411224' })
  }
  for (const [what, res] of Object.entries(answers)) t.equal(res.headers['cache-control'], 'no-store', what)
  t.not((await app.inject({ url: '/openapi.yaml' })).headers['cache-control'], 'no-store', 'the public API description may be cached')

  t.equal(answers['REST 401'].headers['www-authenticate'], 'Bearer realm="beneficiary-registry"', 'no token: the scheme')
  t.equal(answers['GraphQL 401'].headers['www-authenticate'], 'Bearer realm="beneficiary-registry"')
  for (const authorization of [`Bearer ${op.token}x`, 'Bearer nonsense', 'Basic dXNlcjpwYXNz']) {
    const res = await app.inject({ url: '/api/v1/regions/411224', headers: { authorization } })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="beneficiary-registry", error="invalid_token"', `refused: ${authorization.slice(0, 12)}…`)
  }
  t.equal(answers['REST 403'].headers['www-authenticate'], undefined, 'only on 401')
})
