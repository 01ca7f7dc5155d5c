import fc from 'fast-check'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import app from '../src/app.js'
import { scrub } from '../src/infra/logger.js'
import { testConfig, testDatabase, testServerOptions, token } from './helper.js'

const nationalId = fc.tuple(fc.stringMatching(/^[1-6]\d{16}$/), fc.constantFrom('0', '5', '9', 'X')).map(([a, b]) => a + b)
const phone = fc.stringMatching(/^1[3-9]\d{9}$/)
const bankAccount = fc.stringMatching(/^62\d{14,17}$/)
const jwt = fc.tuple(fc.base64String(), fc.base64String()).map(([a, b]) => `eyJhbGciOiJIUzI1NiJ9.eyJ${a.replace(/[+/=]/g, '')}x.${b.replace(/[+/=]/g, '')}`)

t.test('scrub removes national IDs, phone numbers, bank accounts and tokens wherever they stand', async (t) => {
  fc.assert(fc.property(fc.string(), fc.oneof(nationalId, phone, bankAccount, jwt), fc.string(), (before, secret, after) => {
    const line = `${before.replace(/[\dA-Za-z]$/, ' ')} ${secret} ${after.replace(/^[\dA-Za-z]/, ' ')}`
    return !scrub(line).includes(secret)
  }), { numRuns: 2000 })
})

t.test('scrub keeps what the logs need: region codes, times, ids', async (t) => {
  const line = '{"time":1795952656423,"reqId":"9ff3c7f9-00db-4242-9b25-3cfae87c4f91","region":"411224101201","seq":"12345"}'
  t.equal(scrub(line), line)
})

t.test('a request\'s log lines never show its token or the personal data in its URL', async (t) => {
  const lines: string[] = []
  const config = testConfig({ LOG_LEVEL: 'trace' })
  const fastify = Fastify(testServerOptions(config, line => lines.push(line)))
  await fastify.register(fp(app), { config, database: await testDatabase() })
  t.teardown(() => fastify.close())
  const secret = await token({ sub: 'someone', role: 'OPERATOR', region: '4112' })
  const id = '41122419800101123X'
  await fastify.inject({ url: `/api/v1/regions/411224?nationalId=${id}&phone=13812345678&account=6222020200112233445`, headers: { authorization: `Bearer ${secret}` } })
  await fastify.inject({ url: `/api/v1/nothing/${id}`, headers: { authorization: `Bearer ${secret}x` } })
  await fastify.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${secret}` }, payload: { query: `{ region(code: "${id}") { name } }` } })
  const all = lines.join('')
  t.ok(lines.length > 4, 'something was logged')
  t.notOk(all.includes(secret.split('.')[2]!), 'no token signature')
  t.notOk(all.includes(secret.split('.')[1]!), 'no token payload')
  t.notOk(all.includes(id), 'no national ID')
  t.notOk(all.includes('13812345678'), 'no phone number')
  t.notOk(all.includes('6222020200112233445'), 'no bank account')
  t.match(all, /"reqId":"[0-9a-f-]{36}"/, 'request ids are logged')
})

t.test('the request id is taken from x-request-id or generated, and returned', async (t) => {
  const config = testConfig()
  const fastify = Fastify(testServerOptions(config))
  await fastify.register(fp(app), { config, database: await testDatabase() })
  t.teardown(() => fastify.close())
  const given = await fastify.inject({ url: '/healthz', headers: { 'x-request-id': 'gateway-42' } })
  t.equal(given.headers['x-request-id'], 'gateway-42')
  const made = await fastify.inject({ url: '/healthz' })
  t.match(made.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})
