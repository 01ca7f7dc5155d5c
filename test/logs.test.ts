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

t.test('scrub keeps every line valid JSON: fractions are not data, a number that is data becomes a string', async (t) => {
  t.equal(scrub('{"responseTime":0.13812345678901,"ms":12.6222020200112233}\n'), '{"responseTime":0.13812345678901,"ms":12.6222020200112233}\n', 'fractions stay')
  t.equal(scrub('{"phone":13812345678,"n":-13812345678,"e":1.3812345678e+25}'), '{"phone":"[REDACTED]","n":"[REDACTED]","e":1.3812345678e+25}')
  t.equal(scrub('{"msg":"call 13812345678 at 0.13812345678","a\\"13812345678":1}'), '{"msg":"call [REDACTED] at 0.[REDACTED]","a\\"[REDACTED]":1}', 'inside strings (escaped quotes too) the match goes')
  const pii = fc.oneof(nationalId, phone, bankAccount, jwt)
  const value = fc.letrec(tie => ({
    v: fc.oneof({ depthSize: 'small' }, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constant(13812345678), fc.constant(6222020200112233445),
      fc.string(), fc.string({ unit: 'binary' }), pii, fc.tuple(fc.string(), pii, fc.string()).map(p => p.join(' ')), fc.boolean(), fc.constant(null),
      fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.oneof(fc.string(), pii), tie('v'), { maxKeys: 4 }))
  })).v
  fc.assert(fc.property(fc.dictionary(fc.string(), value), (obj) => {
    const line = JSON.stringify({ level: 30, time: 1795952656423, ...obj }) + '\n'
    const clean = scrub(line)
    JSON.parse(clean)
    return scrub(clean) === clean
  }), { numRuns: 3000 })
})

t.test('every log line the app writes is valid JSON, floats and phone-like numbers included', async (t) => {
  const lines: string[] = []
  const config = testConfig({ LOG_LEVEL: 'trace' })
  const fastify = Fastify(testServerOptions(config, line => lines.push(line)))
  await fastify.register(fp(app), { config, database: await testDatabase() })
  t.teardown(() => fastify.close())
  const secret = await token({ sub: 'someone', role: 'OPERATOR', region: '4112' })
  for (let i = 0; i < 50; i++) await fastify.inject({ url: `/api/v1/regions/411224?q=${13812345678 + i}`, headers: { authorization: `Bearer ${secret}` } })
  fastify.log.info({ ratio: 0.13812345678901, phone: 13812345678, account: 6222020200112233445 }, 'numbers')
  t.ok(lines.length > 100, `${lines.length} lines`)
  const parsed = lines.flatMap(l => l.split('\n')).filter(l => l !== '').map(l => { try { return JSON.parse(l) } catch { return l } })
  t.same(parsed.filter(p => typeof p === 'string'), [], 'every line parses')
  t.ok(parsed.filter(p => typeof p !== 'string' && typeof p.responseTime === 'number').length >= 50, 'response times (floats) are logged as numbers')
  t.match(parsed.find(p => p.msg === 'numbers'), { ratio: 0.13812345678901, phone: '[REDACTED]', account: '[REDACTED]' })
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
