import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { newSigningKeyPem, parseSigningKey } from '../src/shared/tree-heads.js'
import { TEST_AUDIT_KEY } from './helper.js'

const SECRET = 'a-secret-that-is-at-least-32-bytes-long!'
const KEY = 'ab'.repeat(32)
const PG = 'postgres://u@127.0.0.1:5432/x'

t.test('defaults: embedded database in ./data, port 3000 on 127.0.0.1, contract issuer/audience', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'br-config-'))
  const c = loadConfig({ DATA_DIR: dir })
  t.equal(c.host, '127.0.0.1')
  t.equal(c.port, 3000)
  t.same(c.database, { kind: 'pglite', dataDir: join(dir, 'pglite') })
  t.equal(c.auth.issuer, 'beneficiary-registry')
  t.equal(c.auth.audience, 'beneficiary-registry')
  t.equal(c.regionSeed, '4112')
  t.equal(c.demoData, true, 'demo data on for the embedded default')
  t.equal(loadConfig({ DATA_DIR: dir, DEMO_DATA: 'false' }).demoData, false)
  t.equal(loadConfig({}).dataDir, join(process.cwd(), 'data'), 'DATA_DIR defaults to ./data')
})

t.test('the embedded default generates a secret once, in the data directory, readable only by its owner', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'br-config-'))
  const a = loadConfig({ DATA_DIR: dir })
  t.ok(a.auth.generatedSecret)
  const file = join(dir, 'jwt-secret')
  t.ok(existsSync(file))
  t.equal(statSync(file).mode & 0o777, 0o600)
  const b = loadConfig({ DATA_DIR: dir })
  t.same(Buffer.from(b.auth.secret!), Buffer.from(a.auth.secret!), 'the same secret on the next start')
  t.equal(readFileSync(file, 'utf8').trim(), new TextDecoder().decode(a.auth.secret!))
  t.ok(a.generatedDataKey)
  t.equal(a.dataKey.length, 32)
  t.equal(statSync(join(dir, 'data-key')).mode & 0o777, 0o600)
  t.same(b.dataKey, a.dataKey, 'the same data key on the next start')
  t.ok(a.audit.generatedSigningKey)
  t.equal(statSync(join(dir, 'audit-signing-key.pem')).mode & 0o777, 0o600)
  t.equal(b.audit.signingKey.keyId, a.audit.signingKey.keyId, 'the same audit signing key on the next start')
})

t.test('AUDIT_SIGNING_KEY: an Ed25519 key as PEM or JWK, required with DATABASE_URL; retired public keys are served after it', async (t) => {
  const base = { DATABASE_URL: PG, JWT_SECRET: SECRET, DATA_KEY: KEY }
  const pem = newSigningKeyPem()
  const fromPem = loadConfig({ ...base, AUDIT_SIGNING_KEY: pem }).audit
  t.equal(fromPem.signingKey.keyId, parseSigningKey(pem).keyId)
  t.match(fromPem.signingKey.keyId, /^[A-Za-z0-9_-]{43}$/, 'the key id is the key\'s RFC 7638 thumbprint')
  const fromJwk = loadConfig({ ...base, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY }).audit
  t.same(fromJwk.publicKeys.map(k => k.kid), [fromJwk.signingKey.keyId])
  t.notOk('d' in fromJwk.publicKeys[0]!, 'no private part is served')
  t.equal(fromJwk.headIntervalMs, 60_000)
  t.throws(() => loadConfig(base), /AUDIT_SIGNING_KEY is required when DATABASE_URL is set/)
  t.throws(() => loadConfig({ ...base, AUDIT_SIGNING_KEY: 'not a key' }), /AUDIT_SIGNING_KEY must be an Ed25519 private key/)
  const rsa = '{"kty":"oct","k":"c2VjcmV0"}'
  t.throws(() => loadConfig({ ...base, AUDIT_SIGNING_KEY: rsa }), /AUDIT_SIGNING_KEY must be an Ed25519 private key/)
  const retired = parseSigningKey(newSigningKeyPem()).publicJwk
  const rotated = loadConfig({ ...base, AUDIT_SIGNING_KEY: pem, AUDIT_RETIRED_KEYS: JSON.stringify({ keys: [retired] }) }).audit
  t.same(rotated.publicKeys.map(k => k.kid), [fromPem.signingKey.keyId, retired.kid], 'the signing key first, then the retired ones')
  t.throws(() => loadConfig({ ...base, AUDIT_SIGNING_KEY: pem, AUDIT_RETIRED_KEYS: '{"keys": 3}' }), /AUDIT_RETIRED_KEYS must be/)
  t.throws(() => loadConfig({ ...base, AUDIT_SIGNING_KEY: pem, AUDIT_HEAD_INTERVAL_SECONDS: '61' }), /AUDIT_HEAD_INTERVAL_SECONDS must be an integer between 1 and 60/)
})

t.test('DATA_KEY is 32 bytes as hex or base64', async (t) => {
  t.same(loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DATA_KEY: KEY }).dataKey, Buffer.from(KEY, 'hex'))
  const b64 = Buffer.alloc(32, 9).toString('base64')
  t.same(loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DATA_KEY: b64 }).dataKey, Buffer.alloc(32, 9))
  t.throws(() => loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DATA_KEY: 'c2hvcnQ=' }), /DATA_KEY must be 32 bytes/)
})

t.test('DATABASE_URL switches to PostgreSQL and then needs a secret or a JWKS URL', async (t) => {
  const c = loadConfig({ DATABASE_URL: 'postgres://u@127.0.0.1:5432/x', JWT_SECRET: SECRET, DATA_KEY: KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DATABASE_POOL_MAX: '7' })
  t.same(c.database, { kind: 'postgres', url: 'postgres://u@127.0.0.1:5432/x', poolMax: 7, statementTimeoutMs: 30_000 })
  t.equal(c.demoData, false, 'no demo data in a real database unless asked')
  t.throws(() => loadConfig({ DATABASE_URL: 'postgres://u@127.0.0.1:5432/x', DATA_KEY: KEY }), /JWT_SECRET or JWT_JWKS_URL is required/)
  t.throws(() => loadConfig({ DATABASE_URL: 'postgres://u@127.0.0.1:5432/x', JWT_SECRET: SECRET }), /DATA_KEY is required/)
  const j = loadConfig({ DATABASE_URL: 'postgres://u@127.0.0.1/x', JWT_JWKS_URL: 'https://idp.example/jwks.json', DATA_KEY: KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY })
  t.equal(j.auth.secret, null)
  t.equal(j.auth.jwksUrl?.toString(), 'https://idp.example/jwks.json')
})

t.test('every bad value is named, all at once', async (t) => {
  try {
    loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', NODE_ENV: 'staging', DATABASE_URL: 'mysql://x', JWT_SECRET: 'short', JWT_JWKS_URL: 'ftp://x', REGION_SEED: '411224', DATABASE_POOL_MAX: '0', DATA_KEY: 'abc', DEMO_DATA: 'yes' })
    t.fail('should throw')
  } catch (err) {
    t.type(err, ConfigError)
    const text = (err as ConfigError).problems.join('\n')
    for (const name of ['PORT', 'LOG_LEVEL', 'NODE_ENV', 'DATABASE_URL', 'JWT_SECRET', 'JWT_JWKS_URL', 'REGION_SEED', 'DATABASE_POOL_MAX', 'DATA_KEY', 'DEMO_DATA']) {
      t.match(text, name, `names ${name}`)
    }
  }
  t.throws(() => loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, JWT_JWKS_URL: 'https://idp.example/jwks.json' }), /either JWT_SECRET or JWT_JWKS_URL/)
  t.throws(() => loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, PORT: '70000' }), /PORT must be an integer between 0 and 65535/)
})

t.test('a bad value stops start-up with a message naming it', async (t) => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, PORT: 'abc', DATA_DIR: mkdtempSync(join(tmpdir(), 'br-config-')) },
    encoding: 'utf8',
    timeout: 60_000
  })
  t.equal(res.status, 1)
  t.match(res.stderr, /Invalid configuration:[\s\S]*PORT must be an integer/)
})

t.test('HTTP limits: defaults on outside the test suite, each settable, 0 turns a limit off', async (t) => {
  const base = { JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DATA_KEY: KEY, NODE_ENV: 'production' }
  const c = loadConfig(base)
  t.equal(c.bodyLimitBytes, 1024 * 1024)
  t.equal(c.requestTimeoutMs, 300_000)
  t.equal(c.connectionTimeoutMs, 120_000)
  t.equal(c.trustProxy, false)
  t.same(c.rateLimit, { perMinute: 600, exchangePerMinute: 6000, ipPerMinute: 120 })
  t.equal(c.loadShedding.maxEventLoopDelayMs, 1000)
  t.ok(c.loadShedding.maxHeapBytes > 100 * 1024 * 1024, 'heap: 90 % of the V8 limit')
  t.equal(c.loadShedding.maxRssBytes, 0)
  t.same(loadConfig({ ...base, DATABASE_URL: 'postgres://u@127.0.0.1/x', DB_STATEMENT_TIMEOUT_MS: '0' }).database, { kind: 'postgres', url: 'postgres://u@127.0.0.1/x', poolMax: 10, statementTimeoutMs: 0 })

  const set = loadConfig({
    ...base, BODY_LIMIT_KB: '64', REQUEST_TIMEOUT_MS: '0', CONNECTION_TIMEOUT_MS: '5000', RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_EXCHANGE_PER_MINUTE: '100000',
    RATE_LIMIT_IP_PER_MINUTE: '30', LOAD_SHED_EVENT_LOOP_DELAY_MS: '0', LOAD_SHED_HEAP_MB: '0', LOAD_SHED_RSS_MB: '2048', TRUST_PROXY: '10.0.0.0/8, 192.168.1.1'
  })
  t.equal(set.bodyLimitBytes, 64 * 1024)
  t.equal(set.requestTimeoutMs, 0)
  t.equal(set.connectionTimeoutMs, 5000)
  t.same(set.rateLimit, { perMinute: 0, exchangePerMinute: 100_000, ipPerMinute: 30 })
  t.same(set.loadShedding, { maxEventLoopDelayMs: 0, maxHeapBytes: 0, maxRssBytes: 2048 * 1024 * 1024 })
  t.same(set.trustProxy, ['10.0.0.0/8', '192.168.1.1'])
  t.equal(loadConfig({ ...base, TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ ...base, TRUST_PROXY: '2' }).trustProxy, 2)

  const test = loadConfig({ ...base, NODE_ENV: 'test' })
  t.same(test.rateLimit, { perMinute: 0, exchangePerMinute: 0, ipPerMinute: 0 }, 'off in the test suite')
  t.same(test.loadShedding, { maxEventLoopDelayMs: 0, maxHeapBytes: 0, maxRssBytes: 0 })
  t.same(loadConfig({ ...base, NODE_ENV: 'test', RATE_LIMIT_PER_MINUTE: '5' }).rateLimit.perMinute, 5, 'unless a test sets them')
})

t.test('bad HTTP limit values are named', async (t) => {
  const bad = {
    BODY_LIMIT_KB: '1', REQUEST_TIMEOUT_MS: '-1', CONNECTION_TIMEOUT_MS: '1e3', DB_STATEMENT_TIMEOUT_MS: 'thirty', RATE_LIMIT_PER_MINUTE: '1.5',
    RATE_LIMIT_EXCHANGE_PER_MINUTE: 'lots', RATE_LIMIT_IP_PER_MINUTE: '-5', LOAD_SHED_EVENT_LOOP_DELAY_MS: '99999', LOAD_SHED_HEAP_MB: 'x', LOAD_SHED_RSS_MB: '', TRUST_PROXY: 'yes'
  }
  try {
    loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DATA_KEY: KEY, DATABASE_URL: 'postgres://u@127.0.0.1/x', ...bad })
    t.fail('should throw')
  } catch (err) {
    t.type(err, ConfigError)
    const text = (err as ConfigError).problems.join('\n')
    for (const name of Object.keys(bad).filter(n => n !== 'LOAD_SHED_RSS_MB')) t.match(text, `${name} must be`, `names ${name}`)
  }
  t.throws(() => loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, BODY_LIMIT_KB: '8' }), /BODY_LIMIT_KB must be an integer between 16 and 102400/)
  t.throws(() => loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, TRUST_PROXY: '10.0.0.0/33' }), /TRUST_PROXY must be/)
  t.throws(() => loadConfig({ JWT_SECRET: SECRET, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, TRUST_PROXY: '10.0.0.1,proxy.local' }), /TRUST_PROXY must be/)
})

t.test('REDIS_URL: unset by default (limits per process); a redis:// or rediss:// URL; the key prefix named when bad', async (t) => {
  const env = { JWT_SECRET: SECRET, DATA_KEY: KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY }
  t.equal(loadConfig(env).redis, null)
  t.same(loadConfig({ ...env, REDIS_URL: 'redis://127.0.0.1:6379/2' }).redis, { url: 'redis://127.0.0.1:6379/2', keyPrefix: 'beneficiary-registry:rate-limit:' })
  t.same(loadConfig({ ...env, REDIS_URL: 'rediss://cache.internal:6380', REDIS_KEY_PREFIX: 'smx:rl:' }).redis, { url: 'rediss://cache.internal:6380', keyPrefix: 'smx:rl:' })
  t.throws(() => loadConfig({ ...env, REDIS_URL: 'http://127.0.0.1:6379' }), /REDIS_URL must be a redis: or rediss: URL/)
  t.throws(() => loadConfig({ ...env, REDIS_URL: '127.0.0.1:6379' }), /REDIS_URL must be/)
  t.throws(() => loadConfig({ ...env, REDIS_URL: 'redis://127.0.0.1', REDIS_KEY_PREFIX: 'a b' }), /REDIS_KEY_PREFIX must be/)
})

t.test('METRICS_TOKEN: unset by default, 32–512 token characters', async (t) => {
  const env = { JWT_SECRET: SECRET, DATA_KEY: KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DATABASE_URL: 'postgres://u@h/db' }
  t.equal(loadConfig(env).metricsToken, null)
  const good = 'f'.repeat(64)
  t.equal(loadConfig({ ...env, METRICS_TOKEN: good }).metricsToken, good)
  for (const bad of ['short', 'x'.repeat(31), 'has a space in it and is long enough 0123456789', 'y'.repeat(513)]) {
    t.throws(() => loadConfig({ ...env, METRICS_TOKEN: bad }), /METRICS_TOKEN must be 32–512 characters/, bad.slice(0, 20))
  }
})

t.test('OTEL_EXPORTER_OTLP_ENDPOINT: an http(s) URL, named with the other problems when bad', async (t) => {
  const { loadTelemetryConfig } = await import('../src/config.js')
  t.same(loadTelemetryConfig({}), { endpoint: null, serviceName: 'beneficiary-registry' })
  t.equal(loadTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'fp' }).endpoint?.href, 'http://collector:4318/')
  t.throws(() => loadConfig({ JWT_SECRET: SECRET, DATA_KEY: KEY, DATABASE_URL: 'postgres://u@h/db', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT must be an http or https URL/)
})

t.test('REGISTRATION_REFUSALS_PER_DAY: 20 by default (test suite included), settable, at least 1', async (t) => {
  t.equal(loadConfig({ JWT_SECRET: SECRET }).registrationRefusalsPerDay, 20)
  t.equal(loadConfig({ JWT_SECRET: SECRET, NODE_ENV: 'test' }).registrationRefusalsPerDay, 20)
  t.equal(loadConfig({ JWT_SECRET: SECRET, REGISTRATION_REFUSALS_PER_DAY: '5' }).registrationRefusalsPerDay, 5)
  for (const bad of ['0', '-1', '2.5', 'many']) {
    t.throws(() => loadConfig({ JWT_SECRET: SECRET, REGISTRATION_REFUSALS_PER_DAY: bad }), /REGISTRATION_REFUSALS_PER_DAY must be an integer between 1 and 100000/)
  }
})

t.test('DATABASE_REPLICA_URLS: none by default; comma-separated postgres URLs; a bad entry named by its place, never echoed; REPLICA_MAX_LAG_MS bounded', async (t) => {
  const env = { JWT_SECRET: SECRET, DATA_KEY: KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY }
  t.same(loadConfig(env).replicas, { urls: [], maxLagMs: 2000 })
  t.same(loadConfig({ ...env, DATABASE_REPLICA_URLS: ' postgres://r@10.0.0.12:5432/registry, postgresql://r@10.0.0.13/registry ', REPLICA_MAX_LAG_MS: '500' }).replicas,
    { urls: ['postgres://r@10.0.0.12:5432/registry', 'postgresql://r@10.0.0.13/registry'], maxLagMs: 500 })
  const err = t.throws(() => loadConfig({ ...env, DATABASE_REPLICA_URLS: 'postgres://r@10.0.0.12/registry,mysql://u:secret-word@x/y' })) as Error
  t.match(err.message, /DATABASE_REPLICA_URLS must be comma-separated postgres URLs \(entry 2 is not one\)/)
  t.notMatch(err.message, /secret-word/, 'the URL (and a password in it) is not repeated')
  t.throws(() => loadConfig({ ...env, REPLICA_MAX_LAG_MS: '10' }), /REPLICA_MAX_LAG_MS must be an integer between 50 and 600000/)
})
