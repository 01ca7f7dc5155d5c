/**
 * Soak: mixed reads and writes from many users (different tokens, roles and regions) at a
 * steady rate for a set time, against the service on 127.0.0.1 over its own PostgreSQL
 * database (br_bench_soak, filled once). Every 10 s it prints the window's requests, error
 * rates and p99, and the server's resident memory; at the end it checks the audit chain
 * (Query.verifyAuditChain as ADMIN).
 *
 * With `--abuse` (a share of the requests, 0.05 unless given; 0 for none) a request in
 * every 1/share is one of issue 17's abuses instead (bench/soak-abuse.ts: spreadsheet
 * bombs and poison rows as import jobs, Idempotency-Key reuse, registration probes,
 * costly, deep and aliased GraphQL, oversize bodies and headers, bad request ids,
 * control characters in names, formulas in a CSV export), each of which must get the
 * answer the hardening gives. The server runs with a fresh TMPDIR of its own. After the
 * load it waits (up to 60 s) for the jobs, then checks and prints each of: no 5xx and no
 * unexpected answer, memory flat (last third's median RSS at most 1.25 × the first
 * third's), the temp directory empty, no import job of the run left receiving, queued or
 * running and every bomb failed as refused, and the audit log valid with nothing pending.
 * Exits non-zero if any fails.
 *
 *   npm run bench:soak -- [--duration 60] [--rate 200] [--users 50] [--households 10000] [--abuse 0.05] [--fresh]
 */
import { randomInt } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { nationalIdCheckDigit } from '../src/shared/national-id.js'
import { benchDatabase, benchToken, startServer } from './bench-server.js'
import { ABUSE_KINDS, abuser, type AbuseKind } from './soak-abuse.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    rate: { type: 'string', default: '200' },
    users: { type: 'string', default: '50' },
    households: { type: 'string', default: '10000' },
    port: { type: 'string', default: '3921' },
    abuse: { type: 'string', default: '0.05' },
    fresh: { type: 'boolean', default: false }
  }
})
const duration = Number(values.duration) * 1000
const rate = Number(values.rate)
const userCount = Number(values.users)
const abuseShare = Number(values.abuse)
/** Every `abuseEvery`-th request is an abuse (none when 0). */
const abuseEvery = abuseShare > 0 ? Math.max(1, Math.round(1 / abuseShare)) : 0
const REFUSALS_PER_DAY = 20

const url = await benchDatabase('br_bench_soak', Number(values.households), values.fresh)
const client = new pg.Client({ connectionString: url })
await client.connect()
const villages = (await client.query<{ code: string }>('SELECT DISTINCT region_code AS code FROM households ORDER BY 1 LIMIT 200')).rows.map(r => r.code)
await client.end()

type Role = 'ADMIN' | 'OPERATOR' | 'REVIEWER' | 'VIEWER' | 'EXCHANGE'
interface User { role: Role, region: string, village: string, auth: string }
// Mostly village operators (who write), then township reviewers, county viewers, city admins and exchange systems.
const ROLES: Role[] = ['OPERATOR', 'OPERATOR', 'OPERATOR', 'OPERATOR', 'REVIEWER', 'VIEWER', 'VIEWER', 'ADMIN', 'EXCHANGE', 'OPERATOR']
const users: User[] = []
for (let i = 0; i < userCount; i++) {
  const role = ROLES[i % ROLES.length]!
  const village = villages[i % villages.length]!
  const region = role === 'OPERATOR' ? village : role === 'REVIEWER' ? village.slice(0, 9) : role === 'VIEWER' ? village.slice(0, 6) : '4112'
  const token = await benchToken({ sub: `soak-${i}`, role, region, ...(role === 'EXCHANGE' ? { dept: 'health' } : {}) })
  users.push({ role, region, village, auth: `Bearer ${token}` })
}

// National IDs unique within the run (and, by a random area code, across runs).
const AREA = `41${randomInt(1000, 9999)}`
let serial = 0
function nationalId (): string {
  const k = serial++
  const d = Math.floor(k / 1000)
  const pad = (v: number): string => String(v).padStart(2, '0')
  const first17 = `${AREA}${1950 + (d % 50)}${pad(1 + (Math.floor(d / 50) % 12))}${pad(1 + (Math.floor(d / 600) % 28))}${String(k % 1000).padStart(3, '0')}`
  return first17 + nationalIdCheckDigit(first17)
}

// The server's own temporary directory: whatever an import leaves there is seen at the end.
const serverTmp = mkdtempSync(join(tmpdir(), 'br-soak-tmp-'))
const port = Number(values.port)
const server = await startServer(url, port, 10, { TMPDIR: serverTmp, REGISTRATION_REFUSALS_PER_DAY: String(REFUSALS_PER_DAY) })
const { abuse, jobs } = await abuser({ base: server.base, port, url, villages, probers: 5, refusalsPerDay: REFUSALS_PER_DAY, nationalId })
/** Per abuse kind: how many were sent, the outcomes seen, and how many were not the expected answer. */
const abuses = new Map<AbuseKind, { count: number, outcomes: Map<string, number>, unexpected: number }>(ABUSE_KINDS.map(k => [k, { count: 0, outcomes: new Map(), unexpected: 0 }]))
let abuseSent = 0
async function oneAbuse (): Promise<number> {
  const kind = ABUSE_KINDS[abuseSent++ % ABUSE_KINDS.length]!
  const seen = abuses.get(kind)!
  seen.count++
  const result = await abuse(kind, Math.floor(abuseSent / ABUSE_KINDS.length)).catch((err: unknown) => ({ outcome: `error ${(err as Error).message}`, expected: false }))
  seen.outcomes.set(result.outcome, (seen.outcomes.get(result.outcome) ?? 0) + 1)
  if (!result.expected) seen.unexpected++
  return /\b5\d\d\b|INTERNAL/.test(result.outcome) ? 500 : result.outcome.startsWith('error') ? 0 : 200
}
const post = (u: User, path: string, body: unknown): Promise<Response> =>
  fetch(server.base + path, { method: 'POST', headers: { authorization: u.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) })
const get = (u: User, path: string): Promise<Response> => fetch(server.base + path, { headers: { authorization: u.auth } })

/** Refusals by code and message, to show what the 4xx were. */
const refusals = new Map<string, number>()
const refused = (what: string): void => { const k = what.slice(0, 100); refusals.set(k, (refusals.get(k) ?? 0) + 1) }

/** One request of the mix for this user; the status that counts (GraphQL INTERNAL counts as 500). */
async function one (u: User, n: number): Promise<number> {
  const gql = async (query: string, variables?: unknown): Promise<number> => {
    const res = await post(u, '/graphql', { query, variables })
    const body = await res.json() as { errors?: Array<{ message?: string, extensions?: { code?: string } }> }
    const code = body.errors?.[0]?.extensions?.code
    if (code !== undefined) refused(`${code}: ${body.errors?.[0]?.message ?? ''}`)
    return code === undefined ? res.status : code === 'INTERNAL' ? 500 : code === 'CONFLICT' ? 409 : 400
  }
  const pick = n % 10
  if (u.role === 'OPERATOR' && pick < 3) {
    return await gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', {
      i: {
        regionCode: u.village, attribute: 'GENERAL', mainCause: 'ILLNESS', identificationYear: 2016, phone: '13812345678',
        members: [{ nationalId: nationalId(), name: '测试', relation: 'HEAD', laborCapacity: 'ORDINARY', medicalInsurance: true }]
      }
    })
  }
  if (u.role === 'EXCHANGE') {
    const res = await post(u, '/api/v1/eligibility', { nationalIds: [nationalId(), nationalId()] })
    const text = await res.text()
    if (res.status >= 400) refused(`eligibility ${res.status}: ${text}`)
    return res.status
  }
  if (pick < 6) return await gql(`{ households(filter: { regionCode: "${u.region}" }, first: 20) { totalCount edges { node { id status members { name } } } } }`)
  if (pick < 8) {
    const res = await get(u, `/api/v1/households?region=${u.region}&limit=20`)
    const text = await res.text()
    if (res.status >= 400) refused(`households ${res.status}: ${text}`)
    return res.status
  }
  if (pick < 9) return await gql(`{ statistics(regionCode: "${u.region}", year: 2019) { exitedInYear } }`)
  const res = await get(u, '/api/v1/me')
  await res.arrayBuffer()
  return res.status
}

interface Sample { ms: number, status: number }
let window: Sample[] = []
const all = { requests: 0, s5xx: 0, s4xx: 0, failed: 0 }
const rss: number[] = []
const started = performance.now()
let inFlight = 0
let n = 0
console.log(`soak: ${rate} req/s for ${duration / 1000} s, ${userCount} users over ${villages.length} villages, ${abuseEvery === 0 ? 'no abuse' : `1 request in ${abuseEvery} an abuse`}; server RSS ${(server.rssKiB() / 1024).toFixed(0)} MB at start`)
console.log('   t s | requests | 5xx | 4xx | net err | p50 ms | p99 ms | in flight | RSS MB')

function report (): void {
  const t = (performance.now() - started) / 1000
  const ms = window.map(s => s.ms).sort((a, b) => a - b)
  const q = (p: number): string => ms.length === 0 ? '-' : ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(0)
  const r = server.rssKiB() / 1024
  rss.push(r)
  console.log(`${t.toFixed(0).padStart(6)} | ${String(window.length).padStart(8)} | ${String(window.filter(s => s.status >= 500).length).padStart(3)} | ${String(window.filter(s => s.status >= 400 && s.status < 500).length).padStart(3)} | ${String(window.filter(s => s.status === 0).length).padStart(7)} | ${q(0.5).padStart(6)} | ${q(0.99).padStart(6)} | ${String(inFlight).padStart(9)} | ${r.toFixed(0).padStart(6)}`)
  window = []
}

const reporter = setInterval(report, 10_000)
await new Promise<void>((resolve) => {
  const tick = setInterval(() => {
    const due = Math.floor((performance.now() - started) / 1000 * rate)
    while (n < due) {
      const u = users[n % users.length]!
      const k = Math.floor(n / users.length)
      const isAbuse = abuseEvery > 0 && n % abuseEvery === abuseEvery - 1
      n++
      inFlight++
      const t0 = performance.now()
      ;(isAbuse ? oneAbuse() : one(u, k)).then(status => status, () => 0).then((status) => {
        inFlight--
        window.push({ ms: performance.now() - t0, status })
        all.requests++
        if (status >= 500) all.s5xx++
        else if (status >= 400) all.s4xx++
        else if (status === 0) all.failed++
      })
    }
    if (performance.now() - started >= duration) { clearInterval(tick); resolve() }
  }, 5)
})
// Nothing may hang: requests still unanswered 60 s after the load stopped are counted as hung.
for (let i = 0; i < 1200 && inFlight > 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
const hung = inFlight
clearInterval(reporter)
report()

// The run's import jobs, once none is left unfinished or 60 s have passed.
const db = new pg.Client({ connectionString: url })
await db.connect()
type JobRow = { id: string, status: string, error: string | null, rejected: number }
let jobRows: JobRow[] = []
const jobsSettled = performance.now()
for (;;) {
  jobRows = (await db.query<JobRow>('SELECT id, status, error, rejected FROM exchange_jobs WHERE id = ANY($1::uuid[])', [jobs.map(j => j.id)])).rows
  if (!jobRows.some(r => ['receiving', 'queued', 'running'].includes(r.status)) || performance.now() - jobsSettled > 60_000) break
  await new Promise(resolve => setTimeout(resolve, 1000))
}
await db.end()
const jobKind = new Map(jobs.map(j => [j.id, j.kind]))
const stuck = jobRows.filter(r => ['receiving', 'queued', 'running'].includes(r.status))
const bombs = jobRows.filter(r => jobKind.get(r.id) === 'xlsx bomb')
const bombsRefused = bombs.filter(r => r.status === 'failed' && r.error?.startsWith('the spreadsheet is refused') === true)
const others = jobRows.filter(r => jobKind.get(r.id) !== 'xlsx bomb')
const othersOk = others.filter(r => r.status === 'succeeded' && (jobKind.get(r.id)?.startsWith('poison') !== true || r.rejected > 0))
const tmpLeft = readdirSync(serverTmp)

// The audit log: every entry sequenced (within a second normally; up to 30 s allowed) and the whole log valid.
const admin = users.find(u => u.role === 'ADMIN')!
type Check = { valid: boolean, checked: number, pending: number, treeSize: number, problem: string | null }
let chain: { data?: { verifyAuditChain: Check } } = {}
for (let i = 0; i < 30; i++) {
  chain = await (await post(admin, '/graphql', { query: '{ verifyAuditChain { valid checked pending treeSize problem } }' })).json() as typeof chain
  if (chain.data === undefined || chain.data.verifyAuditChain.pending === 0) break
  await new Promise(resolve => setTimeout(resolve, 1000))
}
await server.stop()
rmSync(serverTmp, { recursive: true, force: true })

const third = Math.max(1, Math.floor(rss.length / 3))
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const early = median(rss.slice(0, third))
const late = median(rss.slice(-third))
const flat = late <= early * 1.25
console.log(`total: ${all.requests} requests (${(all.requests / (duration / 1000)).toFixed(0)}/s), ${abuseSent} of them abuse; 5xx ${all.s5xx}, 4xx ${all.s4xx}, network errors ${all.failed}, hung ${hung}`)
for (const [what, count] of [...refusals].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  refused ${count}×  ${what}`)
if (abuseEvery > 0) {
  console.log('\nabuse kind                 | count | unexpected | outcomes seen')
  for (const [kind, seen] of abuses) {
    console.log(`${kind.padEnd(26)} | ${String(seen.count).padStart(5)} | ${String(seen.unexpected).padStart(10)} | ${[...seen.outcomes].map(([o, c]) => `${o} ×${c}`).join(', ')}`)
  }
}
const check = chain.data?.verifyAuditChain
const unexpected = [...abuses.values()].reduce((sum, s) => sum + s.unexpected, 0)
const checks: Array<[string, boolean, string]> = [
  ['no 5xx, no network error, nothing hung', all.s5xx === 0 && all.failed === 0 && hung === 0, `5xx ${all.s5xx}, network errors ${all.failed}, hung ${hung}`],
  ['every abuse answered as expected', unexpected === 0, `${unexpected} unexpected of ${abuseSent}`],
  ['RSS flat', flat, `median ${early.toFixed(0)} MB (first third) → ${late.toFixed(0)} MB (last third)`],
  ['temp directory empty', tmpLeft.length === 0, tmpLeft.length === 0 ? 'nothing left' : `left: ${tmpLeft.slice(0, 5).join(', ')}`],
  ['no import job stuck', stuck.length === 0 && jobRows.length === jobs.length, `${jobs.length} jobs, ${stuck.length} unfinished (${[...new Set(stuck.map(r => r.status))].join(', ')})`],
  ['every bomb failed as refused', bombsRefused.length === bombs.length, `${bombsRefused.length} of ${bombs.length}`],
  ['the other jobs succeeded (poison rows rejected)', othersOk.length === others.length, `${othersOk.length} of ${others.length}`],
  ['audit log valid, nothing pending', check?.valid === true && check.pending === 0, check === undefined ? JSON.stringify(chain) : `valid ${check.valid}, checked ${check.checked} of ${check.treeSize}, pending ${check.pending}${check.problem !== null ? `, ${check.problem}` : ''}`]
]
console.log('')
for (const [name, ok, detail] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'}  ${name}: ${detail}`)
if (checks.some(([, ok]) => !ok)) process.exitCode = 1
