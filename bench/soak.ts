/**
 * Soak: mixed reads and writes from many users (different tokens, roles and regions) at a
 * steady rate for a set time, against the service on 127.0.0.1 over its own PostgreSQL
 * database (br_bench_soak, filled once). Every 10 s it prints the window's requests, error
 * rates and p99, and the server's resident memory; at the end it checks the audit chain
 * (Query.verifyAuditChain as ADMIN). Exits non-zero on any 5xx, a broken chain, or memory
 * that kept growing (last third's median RSS over 1.25 × the first third's).
 *
 *   npm run bench:soak -- [--duration 60] [--rate 200] [--users 50] [--households 10000] [--fresh]
 */
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { nationalIdCheckDigit } from '../src/shared/national-id.js'
import { benchDatabase, benchToken, startServer } from './bench-server.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    rate: { type: 'string', default: '200' },
    users: { type: 'string', default: '50' },
    households: { type: 'string', default: '10000' },
    port: { type: 'string', default: '3921' },
    fresh: { type: 'boolean', default: false }
  }
})
const duration = Number(values.duration) * 1000
const rate = Number(values.rate)
const userCount = Number(values.users)

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

const server = await startServer(url, Number(values.port), 10)
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
console.log(`soak: ${rate} req/s for ${duration / 1000} s, ${userCount} users over ${villages.length} villages; server RSS ${(server.rssKiB() / 1024).toFixed(0)} MB at start`)
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
      n++
      inFlight++
      const t0 = performance.now()
      one(u, k).then(status => status, () => 0).then((status) => {
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
while (inFlight > 0) await new Promise(resolve => setTimeout(resolve, 50))
clearInterval(reporter)
report()

const admin = users.find(u => u.role === 'ADMIN')!
const chain = await (await post(admin, '/graphql', { query: '{ verifyAuditChain { valid checked } }' })).json() as { data?: { verifyAuditChain: { valid: boolean, checked: number } } }
await server.stop()

const third = Math.max(1, Math.floor(rss.length / 3))
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const early = median(rss.slice(0, third))
const late = median(rss.slice(-third))
const flat = late <= early * 1.25
console.log(`total: ${all.requests} requests (${(all.requests / (duration / 1000)).toFixed(0)}/s), 5xx ${all.s5xx}, 4xx ${all.s4xx}, network errors ${all.failed}; ` +
  `RSS median ${early.toFixed(0)} MB (first third) → ${late.toFixed(0)} MB (last third)${flat ? '' : ' GROWING'}; ` +
  `audit chain ${chain.data?.verifyAuditChain.valid === true ? `verifies (${chain.data.verifyAuditChain.checked} entries)` : `DOES NOT VERIFY ${JSON.stringify(chain)}`}`)
for (const [what, count] of [...refusals].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  refused ${count}×  ${what}`)
if (all.s5xx > 0 || all.failed > 0 || chain.data?.verifyAuditChain.valid !== true || !flat) process.exitCode = 1
