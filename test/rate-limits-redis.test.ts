/**
 * Rate limits shared by replicas through Redis (REDIS_URL): two apps on one database count
 * one budget per user, per EXCHANGE system and per address; with Redis away each process
 * counts alone (never a 5xx), says so once in its log and in /readyz, and shares again
 * once Redis is back. The machine's Redis (127.0.0.1:6379) under a key prefix of the
 * test's own; the outage on a redis-server of the test's own.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { buildApp, testConfig, token, uniqueSub } from './helper.js'

const VILLAGE = '411224101201'
const MACHINE_REDIS = 'redis://127.0.0.1:6379'

const bearer = async (claims: Parameters<typeof token>[0]): Promise<Record<string, string>> => ({ authorization: `Bearer ${await token(claims)}` })
const me = async (app: FastifyInstance, headers: Record<string, string>, remoteAddress = '127.0.0.1'): Promise<number> =>
  (await app.inject({ url: '/api/v1/me', headers, remoteAddress })).statusCode
const readiness = async (app: FastifyInstance): Promise<{ statusCode: number, body: { status: string, rateLimits: string, replicas: unknown[] } }> => {
  const res = await app.inject('/readyz')
  return { statusCode: res.statusCode, body: res.json() }
}

/** A key prefix of this test's own; its keys are deleted when the test ends. */
function ownPrefix (t: Test): string {
  const prefix = `br-test:${randomUUID()}:`
  t.teardown(async () => {
    const redis = new Redis(MACHINE_REDIS)
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })
  return prefix
}

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

/** A redis-server of the test's own on `port`, without persistence; stopped with `kill -9`. */
async function startRedis (t: Test, port: number): Promise<{ kill: () => Promise<void>, pause: () => void, resume: () => void }> {
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise(resolve => child.once('exit', resolve))
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => { out += String(chunk); if (out.includes('Ready to accept connections')) resolve() })
    child.once('exit', () => { reject(new Error(`redis-server exited: ${out}`)) })
  })
  const kill = async (): Promise<void> => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); await exited }
  t.teardown(kill)
  return { kill, pause: () => child.kill('SIGSTOP'), resume: () => child.kill('SIGCONT') }
}

async function until (what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

t.test('two replicas with REDIS_URL share each budget: per user, per EXCHANGE system, per address; keys expire with the window', async (t) => {
  const prefix = ownPrefix(t)
  const config = testConfig({ REDIS_URL: MACHINE_REDIS, REDIS_KEY_PREFIX: prefix, RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_EXCHANGE_PER_MINUTE: '3', RATE_LIMIT_IP_PER_MINUTE: '3' })
  const { app: a, database } = await buildApp(t, { config })
  const { app: b } = await buildApp(t, { config, database })
  t.same(await readiness(a), { statusCode: 200, body: { status: 'ready', rateLimits: 'redis', replicas: [] } })

  const op = await bearer({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  for (let i = 0; i < 3; i++) t.equal(await me(a, op), 200, 'spent on replica A')
  const onB = await b.inject({ url: '/api/v1/me', headers: op })
  t.equal(onB.statusCode, 200)
  t.equal(onB.headers['x-ratelimit-remaining'], '1', 'replica B sees what A counted')
  t.equal(await me(b, op), 200)
  t.equal(await me(b, op), 429, 'the user\'s budget of 5 is spent across both replicas')
  t.equal(await me(a, op), 429)

  const hospital = await bearer({ sub: uniqueSub('hospital'), role: 'EXCHANGE', region: '4112', dept: 'health' })
  t.equal(await me(a, hospital), 200)
  t.equal(await me(b, hospital), 200)
  t.equal(await me(a, hospital), 200)
  t.equal(await me(b, hospital), 429, 'the EXCHANGE system\'s budget is shared too')

  const address = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.7`
  t.equal(await me(a, {}, address), 401)
  t.equal(await me(a, {}, address), 401)
  t.equal(await me(b, {}, address), 401)
  t.equal(await me(b, {}, address), 429, 'the address\'s budget is shared too')
  t.equal(await me(a, {}, address), 429)

  const redis = new Redis(MACHINE_REDIS)
  t.teardown(() => { redis.disconnect() })
  const keys = await redis.keys(`${prefix}*`)
  t.equal(keys.length, 3, 'one counter per user, system and address')
  for (const key of keys) {
    const ttl = await redis.pttl(key)
    t.ok(ttl > 0 && ttl <= 60_000, `${key} expires with the minute's window (${ttl} ms)`)
  }
})

t.test('Redis away: each replica counts alone, never a 5xx, a warning once, /readyz 200 saying so; Redis back: shared again', async (t) => {
  const port = await freePort()
  let server = await startRedis(t, port)
  const logs: Array<{ level: number, msg: string }> = []
  const config = testConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_PER_MINUTE: '4' })
  const { app: a, database } = await buildApp(t, { config, log: (line) => { logs.push(JSON.parse(line)) } })
  const { app: b } = await buildApp(t, { config, database })
  const lines = (re: RegExp, level: number): number => logs.filter(l => l.level === level && re.test(l.msg)).length
  t.equal(lines(/counted in Redis/, 30), 1, 'info: counted in Redis')

  const first = await bearer({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  t.equal(await me(a, first), 200)
  t.equal(await me(b, first), 200)

  // Redis hangs (connected, silent): a command times out and the request is counted in the process.
  server.pause()
  const started = Date.now()
  t.equal(await me(a, first), 200, 'answered while Redis hangs')
  t.ok(Date.now() - started < 1500, `held at most about the command timeout (${Date.now() - started} ms)`)
  t.equal((await readiness(a)).body.rateLimits, 'local (redis unreachable)')
  server.resume()
  await until('Redis to answer again', async () => (await me(a, first)) === 200 && (await readiness(a)).body.rateLimits === 'redis')
  t.equal(lines(/Redis is unreachable/, 40), 1, 'a warning when it hung')
  t.equal(lines(/Redis answers again/, 30), 1, 'info when it answered again')

  await server.kill()
  await until('replica A to notice', async () => (await readiness(a)).body.rateLimits !== 'redis')
  t.same(await readiness(a), { statusCode: 200, body: { status: 'ready', rateLimits: 'local (redis unreachable)', replicas: [] } }, '/readyz stays 200 and says the limits are per process')
  t.same(await readiness(b), { statusCode: 200, body: { status: 'ready', rateLimits: 'local (redis unreachable)', replicas: [] } })

  const user = await bearer({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  for (let i = 0; i < 4; i++) t.equal(await me(a, user), 200, 'answered without Redis')
  t.equal(await me(a, user), 429, 'and still limited, in the process')
  for (let i = 0; i < 4; i++) t.equal(await me(b, user), 200, 'the other replica has its own count meanwhile')
  t.equal(await me(b, user), 429)
  // Retried connections fail over and over: said once.
  await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(lines(/Redis is unreachable/, 40), 2, 'one warning for the outage')

  server = await startRedis(t, port)
  for (const app of [a, b]) await until('Redis to be used again', async () => (await readiness(app)).body.rateLimits === 'redis')
  t.equal(lines(/Redis answers again/, 30), 2, 'info: shared again')

  const later = await bearer({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  for (let i = 0; i < 2; i++) t.equal(await me(a, later), 200)
  for (let i = 0; i < 2; i++) t.equal(await me(b, later), 200)
  t.equal(await me(a, later), 429, 'one budget across the replicas again')
})

t.test('REDIS_URL set but Redis not there at the start: the app starts, counts per process and says so', async (t) => {
  const logs: Array<{ level: number, msg: string }> = []
  const { app } = await buildApp(t, { config: testConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_IP_PER_MINUTE: '2' }), log: (line) => { logs.push(JSON.parse(line)) } })
  t.same(await readiness(app), { statusCode: 200, body: { status: 'ready', rateLimits: 'local (redis unreachable)', replicas: [] } })
  t.equal(logs.filter(l => l.level === 40 && /Redis is unreachable/.test(l.msg)).length, 1)
  t.equal(await me(app, {}, '10.200.0.1'), 401)
  t.equal(await me(app, {}, '10.200.0.1'), 401)
  t.equal(await me(app, {}, '10.200.0.1'), 429)
})
