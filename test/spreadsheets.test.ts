/**
 * Spreadsheet-ready outputs: the register export and an import job's error report as
 * Excel workbooks and CSV (UTF-8 with BOM, or GB18030), Chinese headers, Chinese messages
 * on request, formulas never run; the same rows, masking and area rules as NDJSON.
 */
import ExcelJS from 'exceljs'
import { parse as csvParse } from 'csv-parse/sync'
import type { LightMyRequestResponse } from 'fastify'
import iconv from 'iconv-lite'
import t from 'tap'
import { generateDemoData } from '../src/db/demo-data.js'
import { EXPORT_BATCH } from '../src/modules/households/households-service.js'
import { REGISTER_TABLE } from '../src/modules/households/register-table.js'
import { validateRow } from '../src/modules/imports/kinds.js'
import { localisedMessage } from '../src/modules/imports/messages.js'
import { parseNationalId } from '../src/shared/national-id.js'
import { Sealer } from '../src/shared/sealing.js'
import { preferredLanguage, tableFormat, XLSX_TYPE } from '../src/shared/spreadsheet.js'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { buildApp, freshDatabase, TEST_DATA_KEY, testConfig, token, uniqueSub, type TestApp } from './helper.js'
import type { TokenClaims } from '../src/infra/tokens.js'

const TOWNSHIP = '411224101' // 杜关镇, 卢氏县
const VILLAGE = '411224101201' // one of its villages
const OTHER_COUNTY = '411221' // 渑池县
const HEADERS = REGISTER_TABLE.columns.map(([h]) => h)
const EVIL = '=HYPERLINK("http://example.invalid/x","点击")'
const BOM = Buffer.from([0xef, 0xbb, 0xbf])

/** GET with request headers of our own, as the user of these claims. */
const get = async (app: TestApp['app'], claims: TokenClaims, url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
  await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${await token(claims)}`, ...headers } })
const ndjsonLines = (body: string): any[] => body.split('\n').filter(l => l !== '').map(l => JSON.parse(l))

/** The first sheet of a workbook as rows of cells (header first), with every cell's type. */
async function sheetOf (body: Buffer): Promise<{ rows: unknown[][], types: Set<number>, formulas: number }> {
  const workbook = new ExcelJS.Workbook()
  await workbook.xlsx.load(body as unknown as ArrayBuffer)
  const sheet = workbook.worksheets[0]!
  const rows: unknown[][] = []
  const types = new Set<number>()
  let formulas = 0
  sheet.eachRow({ includeEmpty: true }, (row) => {
    const cells: unknown[] = []
    for (let c = 1; c <= HEADERS.length; c++) {
      const cell = row.getCell(c)
      types.add(cell.type)
      if (cell.formula !== undefined || cell.type === ExcelJS.ValueType.Formula) formulas++
      cells.push(cell.value ?? null)
    }
    rows.push(cells)
  })
  return { rows, types, formulas }
}

/** (household id, national ID) of each register row, the household's own when it has no member. */
const pairsOfDocs = (docs: any[]): string[] => docs.flatMap(h => (h.members.length === 0 ? [`${h.id as string}/`] : h.members.map((m: any) => `${h.id as string}/${m.nationalId as string}`))).sort()
const pairsOfRows = (rows: unknown[][]): string[] => rows.map(r => `${String(r[HEADERS.indexOf('户ID')])}/${String(r[HEADERS.indexOf('证件号码')] ?? '')}`).sort()

t.test('format and language negotiation', async (t) => {
  t.equal(tableFormat(undefined, undefined), 'ndjson')
  t.equal(tableFormat(undefined, '*/*'), 'ndjson')
  t.equal(tableFormat(undefined, 'text/csv'), 'csv')
  t.equal(tableFormat(undefined, `text/csv;q=0.5, ${XLSX_TYPE}`), 'xlsx', 'the higher q wins')
  t.equal(tableFormat(undefined, 'application/x-ndjson, text/csv'), 'ndjson', 'the first of equal q wins')
  t.equal(tableFormat(undefined, 'text/csv;q=0'), 'ndjson', 'q=0 is a refusal')
  t.equal(tableFormat('xlsx', 'text/csv'), 'xlsx', 'format= wins over Accept')
  t.equal(preferredLanguage(undefined), 'en')
  t.equal(preferredLanguage('zh-CN,zh;q=0.9,en;q=0.8'), 'zh')
  t.equal(preferredLanguage('en-US, zh;q=0.5'), 'en')
  t.equal(preferredLanguage('fr, zh;q=0.3'), 'zh', 'the best of the two the service writes')
})

t.test('every reason a row is rejected has its Chinese rendering', async (t) => {
  const today = new Date('2026-12-04T00:00:00Z')
  const bad: Array<[Parameters<typeof validateRow>[0], Record<string, unknown>]> = [
    ['health.insurance', { national_id: '123', year: 'x', medical_insurance: 'maybe' }],
    ['health.insurance', { national_id: '41122419750302001', year: 1.5, medical_insurance: true, serious_illness_insurance: 2 }],
    ['hr.employment', { national_id: {}, employment: 'ASTRONAUT', months: 13, monthly_income: 1.234 }],
    ['hr.employment', { national_id: '41122419750302001X', employment: 'LOCAL', months: 1, monthly_income: 'lots' }],
    ['civil_affairs.deaths', { national_id: '41122419750302001X', name: 'x'.repeat(51), date_of_death: '2026-13-01' }],
    ['civil_affairs.deaths', { national_id: '41122419750302001X', name: '张三', date_of_death: '2099-01-01' }],
    ['finance.payments', { project_code: 'x'.repeat(61), national_id: '41122419750302001X', amount: 0, date: '2026-01-01', account: '12ab' }]
  ]
  const messages = new Set<string>()
  for (const [kind, record] of bad) {
    const r = validateRow(kind, record, today)
    if ('errors' in r) for (const e of r.errors) messages.add(e.message)
  }
  for (const id of ['4112241975030200', '41122419750302001Y', '411224197503020010', '991224197503020013', '411224197502300013', '411224189001010013', '411224209901010013']) {
    const r = parseNationalId(id, today)
    if (!r.ok) messages.add(r.message)
  }
  for (const m of ['is not valid JSON', 'must be a JSON object', 'CSV cannot be read from here on: Invalid Closing Quote']) messages.add(m)
  // The payment rule's refusals of a finance.payments row.
  for (const m of ['Project not found', 'A project pays only once APPROVED or IN_PROGRESS (this one is PLANNED)', 'is not a beneficiary of the project', 'is not a member of this household',
    'would make paid exceed allocated (10.00 yuan left of 100.00)', 'A payment with reference PZ-1 is already recorded for the project']) messages.add(m)
  t.ok(messages.size >= 18, `${messages.size} distinct messages`)
  for (const m of messages) {
    const zh = localisedMessage(m, 'zh')
    t.ok(zh !== m && /[\u4e00-\u9fff]/.test(zh), `${m} → ${zh}`)
    t.equal(localisedMessage(m, 'en'), m)
  }
})

t.test('the register as xlsx and CSV: Chinese headers, the same rows as NDJSON, formulas not run, masked for VIEWER, nothing outside the area', async (t) => {
  const statements: string[] = []
  const database = await freshDatabase({ onQuery: (q) => { statements.push(q) } })
  const { as, app } = await buildApp(t, { database })
  await generateDemoData(database.db, new Sealer(Buffer.from(TEST_DATA_KEY, 'base64')), { households: 2 * EXPORT_BATCH + 20, region: TOWNSHIP, seed: 11 })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const created = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', {
    i: householdInput(VILLAGE, { phone: '+8613812345678', members: [memberInput({ name: EVIL, nationalId: nationalId('1970-01-01') }), memberInput({ name: '-1+1', relation: 'SPOUSE', nationalId: nationalId('1972-02-02', 'FEMALE') })] })
  })
  t.notOk(created.errors, 'a household whose members have formula-like names')
  const reviewer = { sub: uniqueSub('reviewer'), role: 'REVIEWER', region: TOWNSHIP } as const

  const nd = await get(app, reviewer, '/api/v1/households/export')
  t.equal(nd.statusCode, 200)
  const docs = ndjsonLines(nd.body)
  t.ok(docs.length > 2 * EXPORT_BATCH, 'more than two batches')
  const expected = pairsOfDocs(docs)

  const xlsx = await get(app, reviewer, '/api/v1/households/export?format=xlsx')
  t.equal(xlsx.statusCode, 200)
  t.equal(xlsx.headers['content-type'], XLSX_TYPE)
  t.match(xlsx.headers['content-disposition'], /attachment; filename="households-411224101\.xlsx"/)
  const book = await sheetOf(xlsx.rawPayload)
  t.same(book.rows[0], HEADERS, 'Chinese headers')
  t.ok(HEADERS.includes('证件号码') && HEADERS.includes('户编号'))
  t.same(pairsOfRows(book.rows.slice(1)), expected, 'one row per active member of every household of the NDJSON export')
  t.equal(book.formulas, 0, 'no cell is a formula')
  const evilRow = book.rows.find(r => r[HEADERS.indexOf('姓名')] === EVIL)
  t.ok(evilRow !== undefined, 'the formula-like name is there as text')
  t.notOk(book.types.has(ExcelJS.ValueType.Formula))
  const evilDoc = docs.find(h => h.members.some((m: any) => m.name === EVIL))
  t.equal(evilRow![HEADERS.indexOf('联系电话')], evilDoc.phone, 'the same values as NDJSON')
  t.equal(evilRow![HEADERS.indexOf('贫困户属性')], '一般贫困户', 'enum values by their Chinese labels')

  // CSV: Accept chooses it; UTF-8 with a BOM by default.
  const csv = await get(app, reviewer, '/api/v1/households/export', { accept: 'text/csv' })
  t.equal(csv.statusCode, 200)
  t.equal(csv.headers['content-type'], 'text/csv; charset=utf-8')
  t.same(csv.rawPayload.subarray(0, 3), BOM, 'byte order mark')
  const csvRows = csvParse(csv.rawPayload.subarray(3).toString('utf8')) as string[][]
  t.same(csvRows[0], HEADERS)
  t.same(pairsOfRows(csvRows.slice(1).map(r => r.map(c => (c === '' ? null : c)))), expected, 'the same rows as NDJSON')
  const names = csvRows.slice(1).map(r => r[HEADERS.indexOf('姓名')])
  t.ok(names.includes(`'${EVIL}`), 'a formula is escaped with a quote')
  t.ok(names.includes("'-1+1"), 'so is a leading minus')
  t.ok(csvRows.some(r => r[HEADERS.indexOf('联系电话')] === "'+8613812345678"), 'and a leading plus')
  t.notOk(names.includes(EVIL))

  // GB18030 on request: no BOM, the same text.
  const gb = await get(app, reviewer, '/api/v1/households/export?format=csv&charset=gb18030')
  t.equal(gb.headers['content-type'], 'text/csv; charset=gb18030')
  t.notSame(gb.rawPayload.subarray(0, 3), BOM)
  t.equal(iconv.decode(gb.rawPayload, 'gb18030'), csv.rawPayload.subarray(3).toString('utf8'), 'decodes to the same table')
  t.not(gb.rawPayload.toString('utf8'), csv.rawPayload.subarray(3).toString('utf8'), 'and is not UTF-8')

  // VIEWER: masked exactly as NDJSON.
  const viewer = { sub: uniqueSub('viewer'), role: 'VIEWER', region: VILLAGE } as const
  const viewerNd = ndjsonLines((await get(app, viewer, '/api/v1/households/export')).body)
  const viewerBook = await sheetOf((await get(app, viewer, '/api/v1/households/export', { accept: XLSX_TYPE })).rawPayload)
  const ids = viewerBook.rows.slice(1).map(r => r[HEADERS.indexOf('证件号码')])
  t.ok(ids.length > 0 && ids.every(id => id === null || /^\d{6}\*{8}[\dX]{4}$/.test(String(id))), 'national IDs masked')
  t.same(pairsOfRows(viewerBook.rows.slice(1)), pairsOfDocs(viewerNd), 'the same (masked) values as NDJSON')
  t.ok(viewerBook.rows.slice(1).every(r => r[HEADERS.indexOf('银行账号')] === null || /^\*+\d{4}$/.test(String(r[HEADERS.indexOf('银行账号')]))), 'bank accounts masked')
  t.ok(viewerBook.rows.slice(1).every(r => r[HEADERS.indexOf('联系电话')] === null || String(r[HEADERS.indexOf('联系电话')]).includes('****')), 'phones masked')
  const viewerCsv = await get(app, viewer, '/api/v1/households/export?format=csv')
  t.notOk(viewerCsv.body.includes(evilDoc.members[0].nationalId), 'no ID in the clear in the CSV')

  // Another county's user: none of it.
  const stranger = { sub: uniqueSub('op'), role: 'OPERATOR', region: OTHER_COUNTY } as const
  const theirs = await get(app, stranger, '/api/v1/households/export?format=xlsx')
  t.equal(theirs.statusCode, 200)
  t.same((await sheetOf(theirs.rawPayload)).rows, [HEADERS], 'an empty register (headers only)')
  t.equal((await get(app, stranger, `/api/v1/households/export?format=csv&region=${TOWNSHIP}`)).statusCode, 403, 'a region outside the area is 403')
  t.equal((await  get(app, { sub: uniqueSub('x'), role: 'EXCHANGE', region: '4112', dept: 'health' }, '/api/v1/households/export?format=xlsx')).statusCode, 403)

  // Backpressure: a reader that takes nothing holds either spreadsheet after its first batch.
  const pageQueries = (): number => statements.filter(q => /from "households"/.test(q) && /limit/i.test(q)).length
  for (const format of ['xlsx', 'csv']) {
    statements.length = 0
    const streamed = await app.inject({ method: 'GET', url: `/api/v1/households/export?format=${format}`, headers: { authorization: `Bearer ${await token(reviewer)}` }, payloadAsStream: true })
    for (let i = 0; i < 100 && pageQueries() === 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
    await new Promise(resolve => setTimeout(resolve, 700))
    t.ok(pageQueries() < Math.ceil(docs.length / EXPORT_BATCH), `${format}: the export waits for its reader (${pageQueries()} of ${Math.ceil(docs.length / EXPORT_BATCH)} batches read)`)
    const chunks: Buffer[] = []
    for await (const chunk of streamed.stream()) chunks.push(chunk as Buffer)
    const rows = format === 'xlsx' ? (await sheetOf(Buffer.concat(chunks))).rows.slice(1) : (csvParse(Buffer.concat(chunks).subarray(3).toString('utf8')) as string[][]).slice(1)
    t.equal(rows.length, expected.length, `${format}: and finishes once read`)
  }

  const badFormat = await get(app, reviewer, '/api/v1/households/export?format=pdf')
  t.equal(badFormat.statusCode, 400)
  t.match(badFormat.json(), { errors: [{ path: 'querystring.format' }] })
  const badCharset = await get(app, reviewer, '/api/v1/households/export?format=csv&charset=latin1')
  t.equal(badCharset.statusCode, 400)
  t.match(badCharset.json(), { errors: [{ path: 'querystring.charset' }] })
})

t.test("an import's error report as xlsx and CSV, its reasons in Chinese on request, only to those who may read the job", async (t) => {
  const { as, app } = await buildApp(t)
  const hospitalClaims = { sub: uniqueSub('hospital'), role: 'EXCHANGE', region: '411224', dept: 'health' } as const
  const hospital = as(hospitalClaims)
  await hospital.get('/api/v1/me') // the token is ready
  const rows = [
    JSON.stringify({ national_id: '411224197503020014', year: 2019, medical_insurance: true, serious_illness_insurance: false }),
    JSON.stringify({ national_id: nationalId(), year: 'soon', medical_insurance: 'maybe', serious_illness_insurance: true }),
    'not json',
    JSON.stringify({ national_id: EVIL, year: 2019, medical_insurance: true, serious_illness_insurance: true })
  ]
  const submitted = await app.inject({ method: 'POST', url: '/api/v1/exchange/jobs?kind=health.insurance', headers: { authorization: `Bearer ${hospital.token}`, 'content-type': 'application/x-ndjson' }, payload: rows.join('\n') + '\n' })
  t.equal(submitted.statusCode, 202)
  const id = submitted.json().id as string
  for (let i = 0; i < 400 && (await hospital.get(`/api/v1/exchange/jobs/${id}`)).json().status !== 'succeeded'; i++) await new Promise(resolve => setTimeout(resolve, 25))
  const url = `/api/v1/exchange/jobs/${id}/errors`

  const en = ndjsonLines((await get(app, hospitalClaims, url)).body)
  t.same(en.map(e => [e.line, e.path]), [[1, 'national_id'], [2, 'medical_insurance'], [2, 'year'], [3, ''], [4, 'national_id']])
  t.equal(en[0].message, 'check digit does not match', 'English by default')

  const zhRes = await get(app, hospitalClaims, url, { 'accept-language': 'zh-CN,zh;q=0.9' })
  t.equal(zhRes.headers['content-language'], 'zh')
  const zh = ndjsonLines(zhRes.body)
  t.same(zh.map(e => e.message), ['身份证号码校验码不符', '应为 是/否（true/false、1/0、yes/no）', '应为整数', '该行不是有效的 JSON', '身份证号码应为 18 位'])

  const xlsx = await get(app, hospitalClaims, `${url}?format=xlsx`, { 'accept-language': 'zh' })
  t.equal(xlsx.headers['content-type'], XLSX_TYPE)
  const workbook = new ExcelJS.Workbook()
  await workbook.xlsx.load(xlsx.rawPayload as unknown as ArrayBuffer)
  const sheet = workbook.worksheets[0]!
  const values = sheet.getSheetValues().slice(1).map(r => (r as unknown[]).slice(1))
  t.same(values, [['行号', '字段', '错误原因'], ...zh.map(e => [e.line, e.path === '' ? undefined : e.path, e.message])], 'Chinese headers and messages')

  const csv = await get(app, hospitalClaims, url, { accept: 'text/csv' })
  t.same(csv.rawPayload.subarray(0, 3), BOM)
  const table = csvParse(csv.rawPayload.subarray(3).toString('utf8')) as string[][]
  t.same(table, [['行号', '字段', '错误原因'], ...en.map(e => [String(e.line), e.path, e.message])], 'English messages without Accept-Language zh, Chinese headers')
  const gb = await get(app, hospitalClaims, `${url}?format=csv&charset=gb18030`, { 'accept-language': 'zh' })
  t.match(iconv.decode(gb.rawPayload, 'gb18030'), /^行号,字段,错误原因\r\n1,national_id,身份证号码校验码不符\r\n/)

  // The job is the health department's, in 卢氏县: another department or county does not see it.
  const stranger = { sub: uniqueSub('hospital'), role: 'EXCHANGE', region: OTHER_COUNTY, dept: 'health' } as const
  t.equal((await get(app, stranger, `${url}?format=xlsx`)).statusCode, 404)
  t.equal((await get(app, { sub: uniqueSub('admin'), role: 'ADMIN', region: OTHER_COUNTY }, `${url}?format=csv`)).statusCode, 404)
  t.equal((await get(app, { sub: uniqueSub('viewer'), role: 'VIEWER', region: '411224' }, `${url}?format=csv`)).statusCode, 403)
  t.equal((await get(app, hospitalClaims, `${url}?format=doc`)).statusCode, 400)
})

t.test('every other CSV escapes formulas too: the public exit notice', async (t) => {
  const { as } = await buildApp(t)
  const village = '411224101202'
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: village })
  const ready = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', {
    i: householdInput(village, { foodSecure: true, clothingSecure: true, housingSafe: true, drinkingWaterSafe: true, members: [memberInput({ name: EVIL, nationalId: nationalId('1960-06-06') })] })
  })
  const id = ready.data.createHousehold.id as string
  await op.gql(`mutation { recordIncome(householdId: "${id}", input: { year: 2019, wage: 12000, business: 3000, property: 0, transfer: 1500, expenses: 1500 }) { year } }`)
  const proposed = await op.gql(`mutation { proposeExit(householdId: "${id}", year: 2019) { id } }`)
  const verified = await as({ sub: uniqueSub('reviewer'), role: 'REVIEWER', region: '411224101' }).gql(`mutation { verifyExit(reviewId: "${proposed.data.proposeExit.id as string}") { status } }`)
  t.same(verified.data, { verifyExit: { status: 'VERIFIED' } }, 'under public notice')
  const res = await as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: village }).get('/api/v1/exit-notices?format=csv')
  t.equal(res.statusCode, 200)
  const table = csvParse(res.rawPayload.subarray(3).toString('utf8')) as string[][]
  t.same(table.map(r => r[1]), ['户主姓名', `'${EVIL}`], 'the head\'s name is escaped')
})

t.test('the format and language chosen are added to Vary, beside CORS\'s Origin', async (t) => {
  const { app } = await buildApp(t, { config: testConfig({ CORS_ORIGINS: 'https://fp.smx.gov.cn' }) })
  const viewer = { sub: uniqueSub('viewer'), role: 'VIEWER', region: VILLAGE } as const
  const res = await get(app, viewer, '/api/v1/households/export', { origin: 'https://fp.smx.gov.cn', accept: 'text/csv' })
  t.equal(res.statusCode, 200)
  t.same(String(res.headers.vary).split(/,\s*/).sort(), ['Accept', 'Origin'])
  const errors = await get(app, viewer, '/api/v1/exchange/jobs/00000000-0000-4000-8000-000000000000/errors', { origin: 'https://fp.smx.gov.cn' })
  t.equal(errors.statusCode, 403, 'refused before any format is chosen')
})
