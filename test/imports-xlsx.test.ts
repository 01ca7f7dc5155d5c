/**
 * Spreadsheets that cannot be bombed (issue 17, item 2): an .xlsx is checked from its zip
 * central directory before anything inflates and counted while it inflates; cell, column
 * and row bounds hold; a refused file fails its job at once and for good; no temporary
 * file is ever left (none is written: the zip is read in place from the stored file).
 * The fixtures are built here, not committed.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import type { TokenClaims } from '../src/infra/tokens.js'
import { XLSX_LIMITS } from '../src/modules/imports/xlsx.js'
import { memberInput, nationalId } from './fixtures.js'
import { buildApp, testConfig, uniqueSub, type TestApp } from './helper.js'
import { COUNTY, finished, household, member, uploader, VILLAGE, workbookOf, XLSX, zipOf, zipParts } from './imports-support.js'

/**
 * The process's temporary directory, for this file: a fresh one, set once the database
 * is open (PGlite's copy lives in the machine's), so that anything the import writes
 * there is seen.
 */
function privateTmp (t: { teardown: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'br-imports-xlsx-'))
  const before = process.env.TMPDIR
  process.env.TMPDIR = dir
  t.teardown(() => { if (before === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = before; rmSync(dir, { recursive: true, force: true }) })
  return dir
}

const deaths: TokenClaims = { sub: uniqueSub('mz'), role: 'EXCHANGE', dept: 'civil_affairs', region: COUNTY }

/** Uploads an .xlsx as a deaths roster and waits for the job. */
async function run (app: TestApp, file: Buffer): Promise<any> {
  const submitted = await uploader(app)(deaths, 'civil_affairs.deaths', file, XLSX)
  if (submitted.status !== 202) throw new Error(JSON.stringify(submitted.json))
  return await finished(app.as(deaths), submitted.json.id)
}

async function attemptsOf (app: TestApp, id: string): Promise<{ attempts: number, chunks: number }> {
  const [row] = await queryRows<{ attempts: number, chunks: number }>(app.database.db, sql`SELECT attempts, (SELECT count(*)::int FROM exchange_job_chunks WHERE job_id = ${id}) AS chunks FROM exchange_jobs WHERE id = ${id}`)
  return row!
}

/** A minimal workbook around a sheet's XML (and, if given, shared strings), parts in the order given. */
function minimal (sheetXml: string, extra: Array<[string, string | Buffer]> = []): Array<[string, string | Buffer]> {
  return [
    ['[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'],
    ['xl/workbook.xml', '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>'],
    ['xl/_rels/workbook.xml.rels', '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'],
    ['xl/worksheets/sheet1.xml', `<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${sheetXml}</sheetData></worksheet>`],
    ...extra
  ]
}
const inline = (ref: string, text: string): string => `<c r="${ref}" t="inlineStr"><is><t>${text}</t></is></c>`
/** 2 MiB of digits that deflate about 2:1 (within any ratio bound). */
const digits = ((): string => {
  let s = ''
  for (let i = 0; s.length < 2 * 1024 * 1024; i++) s += String((i * 2654435761) % 1_000_000_007)
  return s
})()
const HEADER = `<row r="1">${inline('A1', 'national_id')}${inline('B1', 'name')}${inline('C1', 'date_of_death')}</row>`

t.test('a sheet before its shared strings is read in place: its rows (dates, rich text, shared strings) apply and nothing is written to the temp directory', async (t) => {
  const app = await buildApp(t)
  const tmp = privateTmp(t)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const a = nationalId('1940-04-04', 'MALE')
  const b = nationalId('1942-02-02', 'FEMALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '秦大山', nationalId: a }), memberInput({ name: '秦李氏', relation: 'SPOUSE', nationalId: b }), memberInput({ name: '秦小山', relation: 'CHILD', nationalId: nationalId('1970-01-01', 'MALE') })])
  const written = await workbookOf([['national_id', 'name', 'date_of_death'], [a, '秦大山', new Date('2019-05-06T00:00:00Z')], [b, { richText: [{ text: '秦' }, { text: '李氏' }] }, '2019-07-08']], (sheet) => {
    sheet.getColumn(3).numFmt = 'yyyy-mm-dd'
  })
  const parts = await zipParts(written)
  t.ok(parts.some(([name]) => name === 'xl/sharedStrings.xml'), 'exceljs wrote shared strings')
  // Sheets first, the shared strings last: a streaming reader would have to spool the sheet to disk.
  const reordered = [...parts.filter(([n]) => n.startsWith('xl/worksheets/')), ...parts.filter(([n]) => !n.startsWith('xl/worksheets/') && n !== 'xl/sharedStrings.xml'), ...parts.filter(([n]) => n === 'xl/sharedStrings.xml')]
  const job = await run(app, await zipOf(reordered))
  t.match(job, { status: 'succeeded', counts: { received: 2, applied: 2, rejected: 0 } })
  t.same((await member(op, h.id)).map((m: any) => m.deceasedAt), ['2019-05-06', '2019-07-08', null])
  t.same(readdirSync(tmp), [], 'the temp directory holds nothing of the job')
  t.same(await attemptsOf(app, job.id), { attempts: 0, chunks: 0 }, 'the stored file removed (attempts reset by the committed batch)')
})

t.test('refused before anything inflates: a shared-strings bomb, a file over IMPORT_XLSX_MAX_MB, too many parts; failed at once, never taken up again, nothing left behind', async (t) => {
  const app = await buildApp(t, { config: testConfig({ IMPORT_XLSX_MAX_MB: '1' }) })
  const tmp = privateTmp(t)
  // 8 MiB of one repeated shared string: a few KiB deflated (a ratio near deflate's maximum, 1032).
  const si = '<si><t>炸弹炸弹炸弹炸弹</t></si>'
  const bombStrings = `<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">${si.repeat(Math.ceil(8 * 1024 * 1024 / Buffer.byteLength(si)))}</sst>`
  const bomb = await zipOf(minimal(HEADER, [['xl/sharedStrings.xml', bombStrings]]))
  t.ok(bomb.length < 100 * 1024, `the bomb is ${bomb.length} bytes`)
  // 2 MiB of digits that deflate about 2:1: within the ratio, beyond the 1 MiB this app allows.
  const rows = Array.from({ length: 64 }, (_, i) => `<row r="${i + 2}">${inline(`B${i + 2}`, digits.slice(i * 32_000, (i + 1) * 32_000))}</row>`).join('')
  const large = await zipOf(minimal(HEADER + rows))
  const parts = await zipOf(minimal(HEADER, Array.from({ length: XLSX_LIMITS.entries }, (_, i) => [`xl/media/x${i}.txt`, 'x'])), { store: true })
  const cases: Array<[string, Buffer, RegExp]> = [
    ['bomb', bomb, /^the spreadsheet is refused: xl\/sharedStrings\.xml expands \d+ times \(at most 100\)$/],
    ['large', large, /^the spreadsheet is refused: it expands to more than 1 MiB \(IMPORT_XLSX_MAX_MB\)$/],
    ['parts', parts, /^the spreadsheet is refused: it has 100[45] parts \(at most 1000\)$/]
  ]
  const ids: string[] = []
  for (const [name, file, error] of cases) {
    const job = await run(app, file)
    ids.push(job.id)
    t.match(job, { status: 'failed', counts: { received: 0 }, error }, name)
    t.same(await attemptsOf(app, job.id), { attempts: 1, chunks: 0 }, `${name}: failed on its first try, its stored file removed`)
  }
  // A refused file is a permanent failure: the worker does not take it up again.
  app.app.wakeImports()
  await new Promise(resolve => setTimeout(resolve, 300))
  const again = await queryRows<{ status: string, attempts: number }>(app.database.db, sql`SELECT status, attempts FROM exchange_jobs WHERE id = ANY(${`{${ids.join(',')}}`}::uuid[])`)
  t.same(again, ids.map(() => ({ status: 'failed', attempts: 1 })))
  t.same(readdirSync(tmp), [], 'the temp directory holds nothing of the jobs')
})

t.test('counted while inflating: a part that inflates beyond its declared size fails its job (the central directory lied)', async (t) => {
  const app = await buildApp(t)
  const tmp = privateTmp(t)
  const text = 'x'.repeat(30_000)
  const sheet = HEADER + Array.from({ length: 100 }, (_, i) => `<row r="${i + 2}">${inline(`B${i + 2}`, text)}</row>`).join('')
  const zip = await zipOf(minimal(sheet))
  // Declare the sheet 4 KiB in its local header and in the central directory (it inflates to 3 MB, 1000:1 — which a true size would have refused).
  const name = Buffer.from('xl/worksheets/sheet1.xml')
  for (let at = zip.indexOf(name); at !== -1; at = zip.indexOf(name, at + 1)) {
    if (zip.readUInt32LE(at - 30) === 0x04034b50) zip.writeUInt32LE(4096, at - 30 + 22)
    else if (zip.readUInt32LE(at - 46) === 0x02014b50) zip.writeUInt32LE(4096, at - 46 + 24)
  }
  const job = await run(app, zip)
  t.match(job, { status: 'failed', counts: { received: 0 }, error: /^the file cannot be read: too many bytes in the stream/ })
  t.same(readdirSync(tmp), [])
})

t.test('cell, column and row bounds, and a stretch of text without markup: refused with the place named', async (t) => {
  const app = await buildApp(t)
  const tmp = privateTmp(t)
  const id = nationalId('1944-04-14', 'MALE')
  const row2 = (cells: string): string => `<row r="2">${inline('A2', id)}${cells}</row>`
  const cases: Array<[string, string, RegExp]> = [
    ['a long cell', row2(inline('B2', '长'.repeat(XLSX_LIMITS.cellChars + 1))), /^the spreadsheet is refused: cell B2 of row 2 is longer than 32767 characters$/],
    ['a long number', row2(`<c r="C2"><v>${'9'.repeat(XLSX_LIMITS.cellChars + 1)}</v></c>`), /^the spreadsheet is refused: cell C2 of row 2 is longer than 32767 characters$/],
    ['a far column', row2(inline('IW2', '远')), /^the spreadsheet is refused: cell IW2 of row 2 is beyond column 256$/],
    ['a far row', `<row r="1048577">${inline('A1048577', id)}</row>`, /^the spreadsheet is refused: it has a row numbered 1048577 \(at most 1048576 rows\)$/],
    ['a stretch of text', row2(`<c r="B2" t="inlineStr"><is><t>${digits.slice(0, 1_100_000)}</t></is></c>`), /^the spreadsheet is refused: xl\/worksheets\/sheet1\.xml has more than 1048576 bytes of text or tag in one stretch$/],
    ['a missing shared string', row2('<c r="B2" t="s"><v>7</v></c>'), /^the spreadsheet is refused: cell B2 of row 2 refers to shared string 7, which does not exist$/],
    ['no workbook', '', /^the spreadsheet is refused: it has no xl\/workbook\.xml/]
  ]
  for (const [name, rows, error] of cases) {
    const parts = minimal(HEADER + rows)
    const job = await run(app, await zipOf(name === 'no workbook' ? parts.filter(([n]) => n !== 'xl/workbook.xml') : parts))
    t.match(job, { status: 'failed', error }, name)
  }
  t.same(readdirSync(tmp), [])
})

t.test('an .xlsx cell with a control character or an unpaired surrogate (as Excel escapes them) is rejected with its row and field; the others apply', async (t) => {
  const app = await buildApp(t)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const a = nationalId('1945-05-15', 'MALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '潘石', nationalId: a })])
  const row = (r: number, id: string, name: string): string => `<row r="${r}">${inline(`A${r}`, id)}<c r="B${r}" t="s"><v>${r - 2}</v></c>${inline(`C${r}`, '2020-02-02')}</row>`
  const strings = '<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>控_x0000_制</t></si><si><r><t>孤</t></r><r><t>_xD800_</t></r></si><si><t>潘_x005F_x0041_石</t></si></sst>'
  const sheet = HEADER + row(2, nationalId('1946-06-16', 'FEMALE'), '') + row(3, nationalId('1947-07-17', 'MALE'), '') + row(4, a, '')
  const job = await run(app, await zipOf(minimal(sheet, [['xl/sharedStrings.xml', strings]])))
  t.match(job, { status: 'succeeded', counts: { received: 3, applied: 1, rejected: 2 } })
  t.same((await app.as(deaths).get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim().split('\n').map(l => JSON.parse(l)), [2, 3].map(line => ({ line, path: 'name', message: 'must not contain control characters or unpaired surrogates' })))
  t.equal((await member(op, h.id))[0].deceasedAt, '2020-02-02', 'the row after them applied (its name, 潘_x0041_石 unescaped once, is not checked against the register)')
})
