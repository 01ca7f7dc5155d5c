import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { isIP } from 'node:net'
import { join, resolve } from 'node:path'
import { getHeapStatistics } from 'node:v8'
import { newSigningKeyPem, parsePublicKeys, parseSigningKey, type PublicJwk, type SigningKey } from './shared/tree-heads.js'

/**
 * The service's configuration, parsed and validated once from the environment.
 * Nothing else in the code reads `process.env`. Every variable is documented in
 * README.md and .env.example.
 */
export interface Config {
  env: 'development' | 'production' | 'test'
  host: string
  port: number
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  database:
    /** `statementTimeoutMs`: PostgreSQL's statement_timeout on every pooled connection (absent or 0: the server's own). */
    | { kind: 'postgres', url: string, poolMax: number, statementTimeoutMs?: number }
    | { kind: 'pglite', dataDir: string }
  /**
   * DATABASE_REPLICA_URLS: PostgreSQL streaming replicas that serve reads (docs/replicas.md),
   * skipped while more than `maxLagMs` (REPLICA_MAX_LAG_MS) behind the primary or down.
   * Empty: every read goes to the primary. The embedded PGlite ignores them.
   */
  replicas: { urls: string[], maxLagMs: number }
  /** Directory for generated development secrets (and the embedded database). */
  dataDir: string
  auth: {
    issuer: string
    audience: string
    /** HS256 secret, or null when JWKS is used. */
    secret: Uint8Array | null
    jwksUrl: URL | null
    /** True when the secret was generated into the data directory (embedded dev default). */
    generatedSecret: boolean
  }
  /** 32-byte key sealing national IDs and bank accounts (AES-256-GCM) and keying their lookup hashes. */
  dataKey: Buffer
  /** True when the data key was generated into the data directory (embedded dev default). */
  generatedDataKey: boolean
  audit: {
    /** Ed25519 key signing the audit log's tree heads. */
    signingKey: SigningKey
    /** True when the key was generated into the data directory (embedded dev default). */
    generatedSigningKey: boolean
    /** Public keys served at /.well-known/audit-keys.json: the signing key's, then retired ones (heads they signed stay verifiable). */
    publicKeys: PublicJwk[]
    /** A new head is signed at least this often while entries arrive. */
    headIntervalMs: number
    /** A month is archived (detached) only this many months after it ended, never fewer than 6. */
    archiveMinMonths: number
  }
  /** Load a small demo set into an empty registry on start (default: on for the embedded database only). */
  demoData: boolean
  /** Administrative code whose seed file (src/db/seed/regions-<code>.tsv) is loaded on first start. */
  regionSeed: string
  /** Length of an exit's public notice (公示), in days. */
  exitNoticeDays: number
  /** Rows an import job applies per transaction. */
  importBatchRows: number
  /**
   * An import job's (or upload's) lease: its worker renews it a third of the way through;
   * another process takes the job over once it has run out (its worker died).
   */
  importLeaseMs: number
  /** Largest file an import job accepts, in bytes. */
  importMaxBytes: number
  /** Most an .xlsx file may inflate to, all its parts together, in bytes. */
  importXlsxMaxBytes: number
  /** Browser origins allowed to call the API (CORS); none by default. */
  corsOrigins: string[]
  /** Which proxies in front of the service to believe about the client's address (X-Forwarded-For). */
  trustProxy: boolean | number | string[]
  /** Largest request body of every route but the import upload (which streams), in bytes. */
  bodyLimitBytes: number
  /** Time to receive a whole request (headers and body), and a socket's allowed idle time; 0: none. */
  requestTimeoutMs: number
  connectionTimeoutMs: number
  /** Requests per minute: per user (token `sub`), per EXCHANGE user, per client address without a valid token. 0: no limit. */
  rateLimit: { perMinute: number, exchangePerMinute: number, ipPerMinute: number }
  /**
   * REDIS_URL: where every replica counts the rate limits together (keys under `keyPrefix`,
   * REDIS_KEY_PREFIX); null: each process counts its own, in memory.
   */
  redis: { url: string, keyPrefix: string } | null
  /**
   * Registrations (createHousehold, addMember) a user may have refused per UTC day because
   * a national ID or household number submitted is registered outside the user's area;
   * beyond it the user may not register until the next day (FORBIDDEN), and an alert is logged.
   */
  registrationRefusalsPerDay: number
  /** Load shedding: above any of these (0: not checked) requests are answered 503 with Retry-After. */
  loadShedding: { maxEventLoopDelayMs: number, maxHeapBytes: number, maxRssBytes: number }
  /** A static bearer token that may read GET /metrics (a Prometheus scraper), besides ADMIN users; null: ADMIN only. */
  metricsToken: string | null
}

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const ENVS = ['development', 'production', 'test'] as const

export function loadConfig (env: Env = process.env): Config {
  const problems: string[] = []
  const str = (name: string, fallback: string): string => {
    const v = env[name]
    return v === undefined || v === '' ? fallback : v
  }
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]
    if (raw === undefined || raw === '') return fallback
    const n = Number(raw)
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`)
      return fallback
    }
    return n
  }
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = str(name, fallback)
    if (!(allowed as readonly string[]).includes(v)) {
      problems.push(`${name} must be one of ${allowed.join(', ')} (got "${v}")`)
      return fallback
    }
    return v as T
  }
  const url = (name: string, protocols: string[]): URL | null => {
    const raw = env[name]
    if (raw === undefined || raw === '') return null
    try {
      const u = new URL(raw)
      if (!protocols.includes(u.protocol)) throw new Error('protocol')
      return u
    } catch {
      problems.push(`${name} must be a ${protocols.join(' or ')} URL`)
      return null
    }
  }

  const nodeEnv = oneOf('NODE_ENV', ENVS, 'development')
  const dataDir = resolve(str('DATA_DIR', './data'))
  const databaseUrl = url('DATABASE_URL', ['postgres:', 'postgresql:'])
  const poolMax = int('DATABASE_POOL_MAX', 10, 1, 500)
  const replicaUrls = str('DATABASE_REPLICA_URLS', '').split(',').map(u => u.trim()).filter(u => u !== '')
  for (const [i, raw] of replicaUrls.entries()) {
    let ok = false
    try { const u = new URL(raw); ok = u.protocol === 'postgres:' || u.protocol === 'postgresql:' } catch {}
    if (!ok) problems.push(`DATABASE_REPLICA_URLS must be comma-separated postgres URLs (entry ${i + 1} is not one)`)
  }
  const jwksUrl = url('JWT_JWKS_URL', ['https:', 'http:'])
  const redisUrl = url('REDIS_URL', ['redis:', 'rediss:'])
  const redisKeyPrefix = str('REDIS_KEY_PREFIX', 'beneficiary-registry:rate-limit:')
  if (!/^[\w.:-]{1,100}$/.test(redisKeyPrefix)) problems.push(`REDIS_KEY_PREFIX must be 1–100 letters, digits and _.:- (got "${redisKeyPrefix}")`)
  const rawSecret = env.JWT_SECRET
  const regionSeed = str('REGION_SEED', '4112')
  if (!/^\d{2}(\d{2}){0,1}$/.test(regionSeed)) problems.push(`REGION_SEED must be a 2- or 4-digit province or city code (got "${regionSeed}")`)

  let secret: Uint8Array | null = null
  let generatedSecret = false
  if (rawSecret !== undefined && rawSecret !== '') {
    if (jwksUrl) problems.push('set either JWT_SECRET or JWT_JWKS_URL, not both')
    if (Buffer.byteLength(rawSecret) < 32) problems.push('JWT_SECRET must be at least 32 bytes long')
    secret = new TextEncoder().encode(rawSecret)
  } else if (!jwksUrl) {
    if (databaseUrl) {
      problems.push('JWT_SECRET or JWT_JWKS_URL is required when DATABASE_URL is set')
    } else if (problems.length === 0) {
      // Embedded default: a random secret kept in the data directory.
      secret = new TextEncoder().encode(devSecret(dataDir, 'jwt-secret'))
      generatedSecret = true
    }
  }

  let dataKey: Buffer = Buffer.alloc(0)
  let generatedDataKey = false
  const rawKey = env.DATA_KEY
  if (rawKey !== undefined && rawKey !== '') {
    dataKey = parseKey(rawKey)
    if (dataKey.length !== 32) problems.push('DATA_KEY must be 32 bytes, as 64 hex digits or base64')
  } else if (databaseUrl) {
    problems.push('DATA_KEY is required when DATABASE_URL is set (generate one: openssl rand -base64 32)')
  } else if (problems.length === 0) {
    dataKey = parseKey(devSecret(dataDir, 'data-key', () => randomBytes(32).toString('base64')))
    generatedDataKey = true
  }

  let signingKey: SigningKey | null = null
  let generatedSigningKey = false
  const rawSigningKey = env.AUDIT_SIGNING_KEY
  try {
    if (rawSigningKey !== undefined && rawSigningKey !== '') {
      signingKey = parseSigningKey(rawSigningKey)
    } else if (databaseUrl) {
      problems.push('AUDIT_SIGNING_KEY is required when DATABASE_URL is set (an Ed25519 private key as PKCS#8 PEM or JWK; generate one: openssl genpkey -algorithm ed25519)')
    } else if (problems.length === 0) {
      signingKey = parseSigningKey(devSecret(dataDir, 'audit-signing-key.pem', newSigningKeyPem))
      generatedSigningKey = true
    }
  } catch (err) {
    problems.push(`AUDIT_SIGNING_KEY must be an Ed25519 private key as PKCS#8 PEM or JWK (${(err as Error).message})`)
  }
  let retiredKeys: PublicJwk[] = []
  try {
    retiredKeys = parsePublicKeys(str('AUDIT_RETIRED_KEYS', '[]'))
  } catch (err) {
    problems.push(`AUDIT_RETIRED_KEYS must be a JWK set or array of Ed25519 public keys (${(err as Error).message})`)
  }

  const corsOrigins = str('CORS_ORIGINS', '').split(',').map(o => o.trim()).filter(o => o !== '')
  for (const o of corsOrigins) {
    let ok = false
    try { const u = new URL(o); ok = (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === o } catch {}
    if (!ok) problems.push(`CORS_ORIGINS must list origins such as https://fp.example.gov.cn, comma-separated (got "${o}")`)
  }

  const trustProxy = parseTrustProxy(str('TRUST_PROXY', 'false'), problems)
  // The test suite builds many apps in one process: limits stay off there unless a test sets them.
  const inTest = nodeEnv === 'test'
  const heapLimitMb = Math.floor(getHeapStatistics().heap_size_limit / 1024 / 1024)
  const MiB = 1024 * 1024

  try { loadTelemetryConfig(env) } catch (err) { if (err instanceof ConfigError) problems.push(...err.problems); else throw err }
  const metricsToken = str('METRICS_TOKEN', '')
  if (metricsToken !== '' && !/^[\w.~+/=-]{32,512}$/.test(metricsToken)) problems.push('METRICS_TOKEN must be 32–512 characters of letters, digits and -._~+/= (generate one: openssl rand -hex 32)')

  const rawDemo = str('DEMO_DATA', databaseUrl ? 'false' : 'true')
  if (rawDemo !== 'true' && rawDemo !== 'false') problems.push(`DEMO_DATA must be true or false (got "${rawDemo}")`)

  const config: Config = {
    env: nodeEnv,
    host: str('HOST', '127.0.0.1'),
    port: int('PORT', 3000, 0, 65535),
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    database: databaseUrl
      ? { kind: 'postgres', url: databaseUrl.toString(), poolMax, statementTimeoutMs: int('DB_STATEMENT_TIMEOUT_MS', 30_000, 0, 3_600_000) }
      : { kind: 'pglite', dataDir: join(dataDir, 'pglite') },
    replicas: { urls: replicaUrls, maxLagMs: int('REPLICA_MAX_LAG_MS', 2000, 50, 600_000) },
    dataDir,
    auth: {
      issuer: str('JWT_ISSUER', 'beneficiary-registry'),
      audience: str('JWT_AUDIENCE', 'beneficiary-registry'),
      secret,
      jwksUrl,
      generatedSecret
    },
    dataKey,
    generatedDataKey,
    audit: {
      signingKey: signingKey!,
      generatedSigningKey,
      publicKeys: [...(signingKey ? [signingKey.publicJwk] : []), ...retiredKeys.filter(k => k.kid !== signingKey?.keyId)],
      headIntervalMs: int('AUDIT_HEAD_INTERVAL_SECONDS', 60, 1, 60) * 1000,
      // Network logs are kept at least six months (Cybersecurity Law, art. 21): never less.
      archiveMinMonths: int('AUDIT_ARCHIVE_MIN_MONTHS', 6, 6, 1200)
    },
    demoData: rawDemo === 'true',
    regionSeed,
    exitNoticeDays: int('EXIT_NOTICE_DAYS', 7, 1, 60),
    importBatchRows: int('IMPORT_BATCH_ROWS', 1000, 1, 10_000),
    importLeaseMs: int('IMPORT_LEASE_SECONDS', 60, 3, 3600) * 1000,
    importMaxBytes: int('IMPORT_MAX_MB', 1024, 1, 16_384) * 1024 * 1024,
    importXlsxMaxBytes: int('IMPORT_XLSX_MAX_MB', 4096, 1, 65_536) * 1024 * 1024,
    corsOrigins,
    trustProxy,
    bodyLimitBytes: int('BODY_LIMIT_KB', 1024, 16, 102_400) * 1024,
    requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 300_000, 0, 3_600_000),
    connectionTimeoutMs: int('CONNECTION_TIMEOUT_MS', 120_000, 0, 3_600_000),
    rateLimit: {
      perMinute: int('RATE_LIMIT_PER_MINUTE', inTest ? 0 : 600, 0, 1_000_000),
      exchangePerMinute: int('RATE_LIMIT_EXCHANGE_PER_MINUTE', inTest ? 0 : 6000, 0, 1_000_000),
      ipPerMinute: int('RATE_LIMIT_IP_PER_MINUTE', inTest ? 0 : 120, 0, 1_000_000)
    },
    redis: redisUrl ? { url: redisUrl.toString(), keyPrefix: redisKeyPrefix } : null,
    registrationRefusalsPerDay: int('REGISTRATION_REFUSALS_PER_DAY', 20, 1, 100_000),
    loadShedding: {
      maxEventLoopDelayMs: int('LOAD_SHED_EVENT_LOOP_DELAY_MS', inTest ? 0 : 1000, 0, 60_000),
      maxHeapBytes: int('LOAD_SHED_HEAP_MB', inTest ? 0 : Math.floor(heapLimitMb * 0.9), 0, 1_048_576) * MiB,
      maxRssBytes: int('LOAD_SHED_RSS_MB', 0, 0, 1_048_576) * MiB
    },
    metricsToken: metricsToken === '' ? null : metricsToken
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

/** Tracing, read by src/instrument.ts before the app loads (see loadTelemetryConfig). */
export interface TelemetryConfig {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the OTLP/HTTP collector's base URL (traces go to `<url>/v1/traces`); null: no tracing. */
  endpoint: URL | null
  /** OTEL_SERVICE_NAME, default beneficiary-registry. */
  serviceName: string
}

/**
 * The tracing settings alone, without the rest (which generates development secrets):
 * read before any module of the app is imported. The OpenTelemetry SDK itself also reads
 * its standard OTEL_* variables (headers, batch delay, sampler).
 */
export function loadTelemetryConfig (env: Env = process.env): TelemetryConfig {
  const raw = env.OTEL_EXPORTER_OTLP_ENDPOINT
  let endpoint: URL | null = null
  if (raw !== undefined && raw !== '') {
    try { endpoint = new URL(raw) } catch {}
    if (endpoint === null || !(endpoint.protocol === 'http:' || endpoint.protocol === 'https:')) {
      throw new ConfigError([`OTEL_EXPORTER_OTLP_ENDPOINT must be an http or https URL (got "${raw}")`])
    }
  }
  const serviceName = env.OTEL_SERVICE_NAME
  return { endpoint, serviceName: serviceName === undefined || serviceName === '' ? 'beneficiary-registry' : serviceName }
}

/** `true`/`false`, a number of proxy hops, or comma-separated proxy addresses and CIDR ranges. */
function parseTrustProxy (raw: string, problems: string[]): Config['trustProxy'] {
  if (raw === 'true' || raw === 'false') return raw === 'true'
  if (/^\d{1,2}$/.test(raw)) return Number(raw)
  const list = raw.split(',').map(a => a.trim()).filter(a => a !== '')
  const bad = list.filter(a => {
    const [ip, bits, ...rest] = a.split('/')
    const version = isIP(ip ?? '')
    return version === 0 || rest.length > 0 || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128)))
  })
  if (list.length === 0 || bad.length > 0) {
    problems.push(`TRUST_PROXY must be true, false, a number of hops or comma-separated addresses/CIDR ranges (got "${raw}")`)
    return false
  }
  return list
}

function parseKey (raw: string): Buffer {
  return /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64')
}

/** Reads a random secret kept in the data directory, creating it (mode 0600) on first use. */
export function devSecret (dataDir: string, name: string, make = () => randomBytes(32).toString('base64url')): string {
  const file = join(dataDir, name)
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(dataDir, { recursive: true })
  const value = make()
  writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' })
  return value
}
