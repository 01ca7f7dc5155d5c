/** Shared by the import tests: the places, an uploader, a job poller and small builders of files and households. */
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import ExcelJS from 'exceljs'
import yauzl from 'yauzl'
import yazl from 'yazl'
import { queryRows, type Database } from '../src/db/index.js'
import type { TokenClaims } from '../src/infra/tokens.js'
import { householdInput } from './fixtures.js'
import type { Client, TestApp } from './helper.js'

export const VILLAGE = '411224101201' // 龙王庙村, 杜关镇, 卢氏县
export const SIBLING = '411224101202'
export const COUNTY = '411224'
export const OTHER_COUNTY_VILLAGE = '411282100001'
export const NDJSON = 'application/x-ndjson'
export const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'

export interface Upload { status: number, json: any }

/** The app with an uploader: POST a file as the user. */
export function uploader (app: TestApp) {
  return async (claims: TokenClaims, kind: string, body: string | Buffer, contentType: string, key?: string): Promise<Upload> => {
    const client = app.as(claims)
    await client.gql('{ me { sub } }')
    const res = await app.app.inject({
      method: 'POST',
      url: `/api/v1/exchange/jobs?kind=${encodeURIComponent(kind)}`,
      headers: { authorization: `Bearer ${client.token}`, 'content-type': contentType, ...(key !== undefined ? { 'idempotency-key': key } : {}) },
      payload: body
    })
    return { status: res.statusCode, json: res.json() }
  }
}

/** Polls the job until it has finished (every 25 ms, `tries` times). */
export async function finished (client: Client, id: string, tries = 400): Promise<any> {
  for (let i = 0; i < tries; i++) {
    const job = (await client.get(`/api/v1/exchange/jobs/${id}`)).json()
    if (job.status === 'succeeded' || job.status === 'failed') return job
    await sleep(25)
  }
  throw new Error('the job did not finish')
}

export async function household (op: Client, village: string, members: Array<Record<string, unknown>>, over: Record<string, unknown> = {}): Promise<{ id: string, members: Array<{ id: string, nationalId: string, name: string }> }> {
  const res = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { id nationalId name } } }', { i: householdInput(village, { members, ...over }) })
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  return res.data.createHousehold
}

export const ndjson = (rows: unknown[]): string => rows.map(r => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n'
export const csv = (header: string[], rows: unknown[][]): string => [header, ...rows].map(r => r.join(',')).join('\r\n') + '\r\n'

export async function member (client: Client, id: string): Promise<any> {
  const res = await client.gql('query ($id: ID!) { household(id: $id) { members { id name nationalId dibao deceasedAt medicalInsurance seriousIllnessInsurance schooling healthConditions disabilityGrade employment employmentMonths monthlyIncome } } }', { id })
  return res.data.household.members
}

export async function auditsOf (database: Database, jobId: string): Promise<Array<{ entity_id: string, action: string, after: unknown }>> {
  return await queryRows(database.db, sql`SELECT entity_id, action, after FROM audit_events WHERE source = ${'exchange-job:' + jobId} ORDER BY id`)
}

/** The parts of a zip, in its order (directories left out). */
export async function zipParts (zip: Buffer): Promise<Array<[string, Buffer]>> {
  const file = await yauzl.fromBufferPromise(zip, { lazyEntries: true })
  const parts: Array<[string, Buffer]> = []
  for await (const entry of file.eachEntry()) {
    if (entry.fileName.endsWith('/')) continue
    const chunks: Buffer[] = []
    for await (const c of await file.openReadStreamPromise(entry)) chunks.push(c as Buffer)
    parts.push([entry.fileName, Buffer.concat(chunks)])
  }
  return parts
}

/** A zip of these parts, in this order (deflated unless `store`). */
export async function zipOf (parts: Array<[string, Buffer | string]>, opts: { store?: boolean } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  for (const [name, data] of parts) zip.addBuffer(Buffer.from(data), name, { compress: opts.store !== true, mtime: new Date(0) })
  zip.end()
  const chunks: Buffer[] = []
  for await (const c of zip.outputStream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** A workbook written by exceljs (a header and these rows on its first sheet), as an .xlsx file. */
export async function workbookOf (rows: unknown[][], setup?: (sheet: ExcelJS.Worksheet) => void): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook()
  const sheet = workbook.addWorksheet('名单')
  for (const r of rows) sheet.addRow(r)
  setup?.(sheet)
  return Buffer.from(await workbook.xlsx.writeBuffer())
}
