/**
 * The soak's abuse (issue 17): requests a hostile client sends alongside the normal
 * traffic, each with the answer the hardening gives it. `abuse(kind)` sends one and says
 * what came back (`outcome`, e.g. `413` or `CONFLICT`) and whether that was the expected
 * answer; the import jobs it creates are kept (`jobs`) for the soak's final checks.
 */
import { connect } from 'node:net'
import { sql } from 'drizzle-orm'
import { openDatabase, queryRows } from '../src/db/index.js'
import { nationalIdCheckDigit } from '../src/shared/national-id.js'
import { workbookOf, zipOf, zipParts } from '../test/imports-support.js'
import { benchToken, sealer } from './bench-server.js'

export const ABUSE_KINDS = [
  'xlsx bomb', 'xlsx sheet first', 'poison NDJSON', 'poison CSV', 'idempotency reuse', 'probe createHousehold', 'probe addMember',
  'verifyAuditChain aliases', 'deep query', 'aliased query', 'oversize body', 'huge headers', 'bad x-request-id', 'control/bidi name', 'formula CSV export'
] as const
export type AbuseKind = typeof ABUSE_KINDS[number]
export interface AbuseResult { outcome: string, expected: boolean }
export interface AbuseJob { id: string, kind: AbuseKind }

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const FORMULA = '=HYPERLINK("http://example.invalid/x","点击")'
const log = { error: (obj: unknown) => { console.error(obj) } }

/** A valid national ID outside 三门峡市 (area 410101), the k-th of this run's `run` tag. */
function outsider (run: number, k: number): string {
  const first17 = `410101${1950 + (k % 50)}${String(1 + (run % 12)).padStart(2, '0')}${String(1 + (Math.floor(k / 50) % 28)).padStart(2, '0')}${String((run * 7 + k) % 1000).padStart(3, '0')}`
  return first17 + nationalIdCheckDigit(first17)
}

/** A minimal workbook around a sheet's XML, its shared strings after it. */
function workbookParts (sheetRows: string, sharedStrings: string): Array<[string, string]> {
  return [
    ['[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'],
    ['xl/workbook.xml', '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>'],
    ['xl/_rels/workbook.xml.rels', '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'],
    ['xl/worksheets/sheet1.xml', `<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${sheetRows}</sheetData></worksheet>`],
    ['xl/sharedStrings.xml', sharedStrings]
  ]
}

/** Sends a raw request and reads the whole answer; its status (0 when none came). */
async function raw (port: number, request: string): Promise<number> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const done = (): void => { resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? 0)) }
    socket.setTimeout(30_000, () => socket.destroy())
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('close', done)
    socket.on('error', () => {})
    socket.end(request)
  })
}

export interface AbuseSetup {
  base: string
  port: number
  /** The soak database (to find people registered in other counties, and a household of each prober). */
  url: string
  /** Villages of the city, for probers and the operator of the name and export abuse. */
  villages: string[]
  /** Users who probe the registry (the daily limit applies per user). */
  probers: number
  /** REGISTRATION_REFUSALS_PER_DAY of the server. */
  refusalsPerDay: number
  /** National IDs registered by nobody yet (those the formula households get). */
  nationalId: () => string
}

/** Prepares the users and files of the abuse; `abuse` sends one request of a kind. */
export async function abuser (setup: AbuseSetup): Promise<{ abuse: (kind: AbuseKind, k: number) => Promise<AbuseResult>, jobs: AbuseJob[] }> {
  const run = Date.now()
  const bearer = async (claims: Parameters<typeof benchToken>[0]): Promise<string> => `Bearer ${await benchToken(claims)}`
  const exchange = await bearer({ sub: `soak-abuse-mz-${run}`, role: 'EXCHANGE', dept: 'civil_affairs', region: '4112' })
  const admin = await bearer({ sub: `soak-abuse-admin-${run}`, role: 'ADMIN', region: '4112' })
  const village = setup.villages[0]!
  const operator = await bearer({ sub: `soak-abuse-op-${run}`, role: 'OPERATOR', region: village })

  // Each prober: an operator of a village, one household there, and people registered in other counties.
  const database = await openDatabase({ kind: 'postgres', url: setup.url, poolMax: 1 }, log)
  const probers: Array<{ auth: string, village: string, household: string, ids: string[], refusals: Map<string, number> }> = []
  try {
    for (let i = 0; i < setup.probers; i++) {
      const v = setup.villages[(i * 7 + 3) % setup.villages.length]!
      const [h] = await queryRows<{ id: string }>(database.db, sql`SELECT id FROM households WHERE region_code = ${v} LIMIT 1`)
      const elsewhere = await queryRows<{ sealed: string }>(database.db, sql`SELECT national_id_sealed AS sealed FROM members WHERE active AND region_code NOT LIKE ${v.slice(0, 6) + '%'} ORDER BY random() LIMIT 40`)
      if (h === undefined || elsewhere.length === 0) throw new Error(`no household in ${v} or nobody registered outside its county`)
      probers.push({ auth: await bearer({ sub: `soak-probe-${run}-${i}`, role: 'OPERATOR', region: v }), village: v, household: h.id, ids: elsewhere.map(r => sealer.open(r.sealed)), refusals: new Map() })
    }
  } finally {
    await database.close()
  }

  // The files: a shared-strings bomb (8 MiB of one string, a few KiB deflated), a sheet stored before its shared strings.
  const si = '<si><t>炸弹炸弹炸弹炸弹</t></si>'
  const bomb = await zipOf(workbookParts('<row r="1"><c r="A1" t="inlineStr"><is><t>national_id</t></is></c></row>',
    `<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">${si.repeat(Math.ceil(8 * 1024 * 1024 / Buffer.byteLength(si)))}</sst>`))
  const written = await workbookOf([['national_id', 'name', 'date_of_death'], ...Array.from({ length: 20 }, (_, i) => [outsider(run, i), '秦大山', '2019-05-06'])])
  const parts = await zipParts(written)
  const sheetFirst = await zipOf([...parts.filter(([n]) => n.startsWith('xl/worksheets/')), ...parts.filter(([n]) => !n.startsWith('xl/worksheets/') && n !== 'xl/sharedStrings.xml'), ...parts.filter(([n]) => n === 'xl/sharedStrings.xml')])
  const dibao = (id: string, name: string): string => JSON.stringify({ national_id: id, name, status: 'active', start_date: '2018-03-01', monthly_amount: 260 })
  const poisonNdjson = (k: number): string => [dibao(outsider(run, k), '无\u0000名'), dibao(outsider(run, k + 1), '\uD800孤'), dibao(outsider(run, k + 2), '孤\uDC00'), dibao(outsider(run, k + 3), '正常')].join('\n') + '\n'
  const poisonCsv = (k: number): string => `national_id,name,status,start_date,monthly_amount\r\n${outsider(run, k)},无\u0000名,active,2018-03-01,260\r\n${outsider(run, k + 1)},控\u0085制,active,2018-03-01,260\r\n${outsider(run, k + 2)},正常,active,2018-03-01,260\r\n`
  const oversize = Buffer.alloc(4 * 1024 * 1024, 'a')

  const jobs: AbuseJob[] = []
  const submit = async (kind: AbuseKind, jobKind: string, body: string | Buffer, type: string, key?: string): Promise<Response> => {
    const res = await fetch(`${setup.base}/api/v1/exchange/jobs?kind=${jobKind}`, { method: 'POST', headers: { authorization: exchange, 'content-type': type, ...(key !== undefined ? { 'idempotency-key': key } : {}) }, body })
    const json = await res.json() as { id?: string }
    if (res.status === 202 && json.id !== undefined && !jobs.some(j => j.id === json.id)) jobs.push({ id: json.id, kind })
    return res
  }
  const gql = async (auth: string, query: string, variables?: unknown): Promise<{ status: number, code?: string, limit?: string, text: string }> => {
    const res = await fetch(`${setup.base}/graphql`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) })
    const text = await res.text()
    const error = (JSON.parse(text) as { errors?: Array<{ extensions?: { code?: string, limit?: string } }> }).errors?.[0]
    return { status: res.status, code: error?.extensions?.code, limit: error?.extensions?.limit, text }
  }
  const member = (nationalId: string, name = '测试'): Record<string, unknown> => ({ nationalId, name, relation: 'HEAD', laborCapacity: 'ORDINARY', medicalInsurance: true })
  const household = (v: string, members: Array<Record<string, unknown>>): Record<string, unknown> => ({ regionCode: v, attribute: 'GENERAL', mainCause: 'ILLNESS', identificationYear: 2016, phone: '13812345678', members })
  const CREATE = 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }'
  const ADD = 'mutation ($h: ID!, $i: MemberInput!) { addMember(householdId: $h, input: $i) { id } }'

  /** A probe: CONFLICT naming nothing while within the user's budget for the UTC day, FORBIDDEN beyond it. */
  const probe = async (k: number, add: boolean): Promise<AbuseResult> => {
    const p = probers[k % probers.length]!
    const theirs = p.ids[k % p.ids.length]!
    const res = add
      ? await gql(p.auth, ADD, { h: p.household, i: { ...member(theirs), relation: 'OTHER' } })
      : await gql(p.auth, CREATE, { i: household(p.village, [member(outsider(run, 500 + k)), { ...member(theirs), relation: 'SPOUSE' }]) })
    const day = new Date().toISOString().slice(0, 10)
    const refusals = p.refusals.get(day) ?? 0
    const expected = refusals < setup.refusalsPerDay ? 'CONFLICT' : 'FORBIDDEN'
    if (res.code === 'CONFLICT') p.refusals.set(day, refusals + 1)
    const silent = !res.text.includes(theirs) && !res.text.includes('members.') && !res.text.includes('"fields"')
    return { outcome: res.code ?? String(res.status), expected: res.code === expected && silent }
  }

  async function abuse (kind: AbuseKind, k: number): Promise<AbuseResult> {
    switch (kind) {
      case 'xlsx bomb': {
        const res = await submit(kind, 'civil_affairs.deaths', bomb, XLSX)
        return { outcome: String(res.status), expected: res.status === 202 }
      }
      case 'xlsx sheet first': {
        const res = await submit(kind, 'civil_affairs.deaths', sheetFirst, XLSX)
        return { outcome: String(res.status), expected: res.status === 202 }
      }
      case 'poison NDJSON': {
        const res = await submit(kind, 'civil_affairs.dibao', poisonNdjson(1000 + 4 * k), 'application/x-ndjson')
        return { outcome: String(res.status), expected: res.status === 202 }
      }
      case 'poison CSV': {
        const res = await submit(kind, 'civil_affairs.dibao', poisonCsv(3000 + 3 * k), 'text/csv')
        return { outcome: String(res.status), expected: res.status === 202 }
      }
      case 'idempotency reuse': {
        const key = `soak-${run}-${k}`
        const first = await submit(kind, 'civil_affairs.dibao', dibao(outsider(run, 5000 + k), '正常') + '\n', 'application/x-ndjson', key)
        const again = await submit(kind, 'civil_affairs.dibao', dibao(outsider(run, 6000 + k), '其他') + '\n', 'application/x-ndjson', key)
        return { outcome: `${first.status}→${again.status}`, expected: first.status === 202 && again.status === 422 }
      }
      case 'probe createHousehold': return await probe(k, false)
      case 'probe addMember': return await probe(k, true)
      case 'verifyAuditChain aliases': {
        const res = await gql(admin, `{ ${Array.from({ length: 10 }, (_, i) => `a${i}: verifyAuditChain { valid }`).join(' ')} }`)
        return { outcome: `${res.code ?? res.status}${res.limit !== undefined ? ` ${res.limit}` : ''}`, expected: res.code === 'BAD_USER_INPUT' && res.limit === 'cost' }
      }
      case 'deep query': {
        const res = await gql(admin, `{ region(code: "41") { ${'children { '.repeat(13)} code ${'} '.repeat(13)} } }`)
        return { outcome: `${res.code ?? res.status}`, expected: res.code === 'BAD_USER_INPUT' && /depth/.test(res.text) }
      }
      case 'aliased query': {
        const res = await gql(admin, `{ ${Array.from({ length: 31 }, (_, i) => `h${i}: households(first: 50) { edges { node { id members { name } } } }`).join(' ')} }`)
        return { outcome: `${res.code ?? res.status}${res.limit !== undefined ? ` ${res.limit}` : ''}`, expected: res.code === 'BAD_USER_INPUT' && res.limit === 'aliases' }
      }
      case 'oversize body': {
        const res = await fetch(`${setup.base}/graphql`, { method: 'POST', headers: { authorization: admin, 'content-type': 'application/json' }, body: oversize })
        await res.arrayBuffer()
        return { outcome: String(res.status), expected: res.status === 413 }
      }
      case 'huge headers': {
        const status = await raw(setup.port, `GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`)
        return { outcome: String(status), expected: status === 431 }
      }
      case 'bad x-request-id': {
        const sent = ['x'.repeat(300), `<script>${k}</script>`, `a b"c;${k}`][k % 3]!
        const res = await fetch(`${setup.base}/api/v1/me`, { headers: { authorization: operator, 'x-request-id': sent } })
        await res.arrayBuffer()
        const back = res.headers.get('x-request-id') ?? ''
        return { outcome: `${res.status}${back.length > 128 || back.includes('<') ? ' kept' : ' replaced'}`, expected: res.status === 200 && /^[0-9a-f-]{36}$/.test(back) }
      }
      case 'control/bidi name': {
        const name = ['王\u202E明', '王\u0007明', '\u200B', '李\u2066四'][k % 4]!
        const res = await gql(operator, CREATE, { i: household(village, [member(outsider(run, 7000 + k), name)]) })
        return { outcome: `${res.code ?? res.status}`, expected: res.code === 'BAD_USER_INPUT' && res.text.includes('members.0.name') }
      }
      case 'formula CSV export': {
        const created = await gql(operator, CREATE, { i: household(village, [member(setup.nationalId(), FORMULA)]) })
        const res = await fetch(`${setup.base}/api/v1/households/export?region=${village}&format=csv`, { headers: { authorization: operator } })
        const text = await res.text()
        const escaped = text.includes(`'${FORMULA.replaceAll('"', '""')}`) && !/(^|,)"?=HYPERLINK/m.test(text)
        // Creating races the normal traffic's creations in the same village for the next household number (a CONFLICT to retry).
        const raced = created.code === 'CONFLICT' && created.text.includes('taken meanwhile')
        return { outcome: `${raced ? 'number raced' : created.code ?? created.status}, ${res.status}${escaped ? ' escaped' : ' NOT ESCAPED'}`, expected: (created.code === undefined || raced) && res.status === 200 && escaped }
      }
    }
  }
  return { abuse, jobs }
}
