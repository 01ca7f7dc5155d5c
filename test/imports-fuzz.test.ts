/**
 * Fuzzing of what an import job reads (issue 17): the structure of .xlsx files (parts in
 * any order, stored or deflated, dropped, repeated, truncated, bytes flipped; cells of
 * any text, control characters and unpaired surrogates as Excel escapes them) and
 * roster rows of any text (NDJSON). Every job ends — succeeded, or failed with a reason
 * ("the spreadsheet is refused: …", "the file cannot be read: …") — and never stays
 * running; every row either applies or is rejected with its line and field; nothing is
 * left in the temp directory. A failure prints its seed (test/fuzz-support.ts `failure`).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { readRecords } from '../src/modules/imports/parse.js'
import type { TokenClaims } from '../src/infra/tokens.js'
import { seedProject } from './disclosures-support.js'
import { memberInput, nationalId } from './fixtures.js'
import { failure } from './fuzz-support.js'
import { buildApp, uniqueSub } from './helper.js'
import { COUNTY, finished, household, NDJSON, ndjson, uploader, VILLAGE, XLSX, zipOf } from './imports-support.js'

/** Text with the characters that break imports: NUL and other controls, unpaired surrogates, direction overrides, XML's specials. */
const text = fc.array(fc.oneof(
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.constantFrom('\u0000', '\u0001', '\t', '\n', '\u007f', '\u0085', '\uD800', '\uDFFF', '\u202E', '\uFEFF', '<', '&', ']]>', '_x0000_', '张')
), { maxLength: 6 }).map(parts => parts.join(''))

/** A character the text of any roster field may not hold (checked independently of kinds.ts: by code unit). */
function poisoned (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return true
    if (c >= 0xd800 && c <= 0xdbff) { const d = s.charCodeAt(i + 1); if (d >= 0xdc00 && d <= 0xdfff) { i++; continue } return true }
    if (c >= 0xdc00 && c <= 0xdfff) return true
  }
  return false
}

t.test('roster rows of any text: the job always ends succeeded; each row with a control character or an unpaired surrogate is rejected by its line and field', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const mz: TokenClaims = { sub: uniqueSub('mz'), role: 'EXCHANGE', dept: 'civil_affairs', region: COUNTY }
  const id = nationalId('1930-03-03', 'MALE') // registered nowhere: every valid row is unmatched and becomes a work item holding its name
  await fc.assert(fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 8 }), async (names) => {
    const body = ndjson(names.map(name => ({ national_id: id, name, status: 'active', start_date: '2018-01-01', monthly_amount: 1 })))
    const job = await finished(app.as(mz), (await upload(mz, 'civil_affairs.dibao', body, NDJSON)).json.id)
    if (job.status !== 'succeeded') throw new Error(`job ${job.status}: ${job.error}`)
    const errors = (await app.as(mz).get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { line: number, path: string })
    if (errors.some(e => e.path !== 'name')) throw new Error(`an error not on name: ${JSON.stringify(errors)}`)
    const rejected = new Set(errors.map(e => e.line))
    names.forEach((name, i) => {
      if (poisoned(name.trim()) && !rejected.has(i + 1)) throw new Error(`line ${i + 1} (${JSON.stringify(name)}) was not rejected`)
    })
    if (job.counts.received !== names.length || job.counts.unmatched + job.counts.rejected !== names.length) throw new Error(`counts ${JSON.stringify(job.counts)}`)
  }), { numRuns: 25, asyncReporter: async (d) => { if (d.failed) throw new Error(failure(d)) } })
  t.pass('every roster ended succeeded, poisoned rows rejected')
})

t.test('finance.payments rows of any values: the job always ends succeeded, paid never exceeds allocated and is exactly the payments applied, poisoned text rejected', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY })
  const cz: TokenClaims = { sub: uniqueSub('cz'), role: 'EXCHANGE', dept: 'finance', region: COUNTY }
  const id = nationalId('1958-08-08', 'MALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '石光明', nationalId: id })])
  const p = await seedProject(app, { regionCode: VILLAGE, name: '扶贫车间', allocations: [{ source: 'CENTRAL', amount: 1000, date: '2019-01-10' }], households: [{ id: h.id, regionCode: VILLAGE }] })
  const amount = fc.oneof(fc.integer({ min: 1, max: 40000 }).map(n => n / 100), fc.constantFrom('0', '-1', '1e2', 'NaN', 'Infinity', '', '12.345', '999999999999999', '0.01', ' 5 '), text)
  const row = fc.record({
    project_code: fc.oneof({ arbitrary: fc.constant(p.code), weight: 3 }, { arbitrary: text, weight: 1 }),
    national_id: fc.oneof({ arbitrary: fc.constant(id), weight: 3 }, { arbitrary: text, weight: 1 }),
    amount,
    date: fc.constantFrom('2019-06-01', '2019-02-30', '', '2099-01-01'),
    account: fc.oneof({ arbitrary: fc.constant('6228480012345678901'), weight: 3 }, { arbitrary: text, weight: 1 }),
    voucher_no: fc.option(fc.oneof(text, fc.constantFrom('PZ-1', 'PZ-2', 'PZ-3')), { nil: undefined })
  })
  await fc.assert(fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 8 }), async (rows) => {
    const [before] = await queryRows<{ n: number }>(app.database.db, sql`SELECT count(*)::int AS n FROM fund_payments WHERE project_id = ${p.id}`)
    const job = await finished(app.as(cz), (await upload(cz, 'finance.payments', ndjson(rows), NDJSON)).json.id)
    if (job.status !== 'succeeded') throw new Error(`job ${job.status}: ${job.error}`)
    const c = job.counts
    if (c.received !== rows.length || c.applied + c.unmatched + c.rejected !== rows.length) throw new Error(`counts ${JSON.stringify(c)}`)
    const [figures] = await queryRows<{ paid: string, allocated: string, sum: string, n: number }>(app.database.db, sql`SELECT p.paid::text AS paid, p.allocated::text AS allocated,
      (SELECT coalesce(sum(amount), 0)::numeric(14,2)::text FROM fund_payments f WHERE f.project_id = p.id) AS sum, (SELECT count(*)::int FROM fund_payments f WHERE f.project_id = p.id) AS n
      FROM projects p WHERE p.id = ${p.id}`)
    if (figures!.paid !== figures!.sum || Number(figures!.paid) > Number(figures!.allocated)) throw new Error(`figures ${JSON.stringify(figures)}`)
    if (figures!.n - before!.n !== c.applied) throw new Error(`${figures!.n - before!.n} payments for ${c.applied} applied`)
    const errors = (await app.as(cz).get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { line: number })
    const rejected = new Set(errors.map(e => e.line))
    rows.forEach((r, i) => {
      if ([r.project_code, r.voucher_no ?? ''].some(v => poisoned(v.trim())) && !rejected.has(i + 1)) throw new Error(`line ${i + 1} (${JSON.stringify(r)}) was not rejected`)
    })
  }), { numRuns: 15, asyncReporter: async (d) => { if (d.failed) throw new Error(failure(d)) } })
  t.pass('every disbursement file ended succeeded; paid = the payments applied ≤ allocated')
})

/** A damage done to one file in four or so. */
const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 })

t.test('NDJSON lines split at CRLF, LF or CR the same wherever the stored chunks break, numbered as in the file', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(fc.oneof(fc.constant(''), fc.integer().map(n => JSON.stringify({ n })), fc.constant('{ broken')), fc.constantFrom('\n', '\r\n', '\r')), { maxLength: 12 }),
    fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
    async (lines, sizes) => {
      const bytes = Buffer.from(lines.map(([l, sep]) => l + sep).join(''))
      // The stored file read in chunks of the drawn sizes (a CR and its LF may fall in two).
      const file = { size: bytes.length, async * read (start: number, end: number) { for (let at = start, i = 0; at < end; at += sizes[i++ % sizes.length]!) yield bytes.subarray(at, Math.min(end, at + sizes[i % sizes.length]!)) } }
      const got: Array<[number, string]> = []
      for await (const r of readRecords(file, 'ndjson', 'utf-8', 0)) got.push([r.line, 'error' in r ? 'error' : JSON.stringify(r.record)])
      // As the whole text splits at once (a CR before an empty line's LF is one CRLF).
      const whole = bytes.toString().split(/\r\n|\r|\n/)
      if (whole.at(-1) === '') whole.pop()
      const want = whole.flatMap((l, i) => l === '' ? [] : [[i + 1, l === '{ broken' ? 'error' : l] as [number, string]])
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
    }), { numRuns: 300, asyncReporter: async (d) => { if (d.failed) throw new Error(failure(d)) } })
  t.pass('every split agrees with the file')
})

/** XML text of a cell: control characters and surrogates as Excel's `_xHHHH_` escapes, XML's specials as entities. */
const xmlText = (s: string): string => s.replace(/_x/g, '_x005F_x').replace(/[\u0000-\u001f\uD800-\uDFFF\uFFFE\uFFFF]/g, c => `_x${c.charCodeAt(0).toString(16).padStart(4, '0')}_`)
  .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

t.test('.xlsx of any structure: the job ends, succeeded or failed with a reason, never running; the temp directory stays empty', async (t) => {
  const app = await buildApp(t)
  const tmp = mkdtempSync(join(tmpdir(), 'br-imports-fuzz-'))
  const saved = process.env.TMPDIR
  process.env.TMPDIR = tmp
  t.teardown(() => { if (saved === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = saved; rmSync(tmp, { recursive: true, force: true }) })
  const upload = uploader(app)
  const mz: TokenClaims = { sub: uniqueSub('mz'), role: 'EXCHANGE', dept: 'civil_affairs', region: COUNTY }
  const id = nationalId('1931-03-03', 'FEMALE')
  const workbook = fc.record({
    names: fc.array(text, { maxLength: 5 }),
    shared: fc.boolean(),
    order: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    store: fc.boolean(),
    drop: sometimes(fc.nat(4)),
    repeat: sometimes(fc.nat(4)),
    cut: sometimes(fc.double({ min: 0, max: 1, noNaN: true })),
    flips: fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }), weight: 1 })
  })
  const outcomes: Record<string, number> = {}
  await fc.assert(fc.asyncProperty(workbook, async (w) => {
    const cell = (ref: string, s: string, n: number): string => w.shared ? `<c r="${ref}" t="s"><v>${n}</v></c>` : `<c r="${ref}" t="inlineStr"><is><t xml:space="preserve">${xmlText(s)}</t></is></c>`
    const header = ['national_id', 'name', 'status', 'start_date', 'monthly_amount']
    const rows = [header, ...w.names.map(name => [id, name, 'active', '2018-01-01', '5'])]
    const strings: string[] = []
    const sheetRows = rows.map((r, i) => `<row r="${i + 1}">${r.map((v, j) => { strings.push(v); return cell(`${'ABCDE'[j]}${i + 1}`, v, strings.length - 1) }).join('')}</row>`).join('')
    let parts: Array<[string, string]> = [
      ['[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'],
      ['xl/workbook.xml', '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>'],
      ['xl/_rels/workbook.xml.rels', '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'],
      ['xl/worksheets/sheet1.xml', `<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${sheetRows}</sheetData></worksheet>`],
      ['xl/sharedStrings.xml', `<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">${strings.map(s => `<si><t xml:space="preserve">${xmlText(s)}</t></si>`).join('')}</sst>`]
    ]
    parts = parts.map((p, i) => [p, w.order[i]!] as const).sort((a, b) => a[1] - b[1]).map(([p]) => p)
    if (w.repeat !== undefined) parts.push(parts[w.repeat]!)
    if (w.drop !== undefined) parts.splice(w.drop, 1)
    let file: Buffer
    try {
      file = await zipOf(parts, { store: w.store })
    } catch {
      return // yazl refuses a repeated name itself: nothing to upload
    }
    if (w.cut !== undefined) file = file.subarray(0, Math.max(1, Math.floor(file.length * w.cut)))
    for (const [at, xor] of w.flips) { const i = Math.floor(at * (file.length - 1)); file[i] = file[i]! ^ xor }
    const submitted = await upload(mz, 'civil_affairs.dibao', file, XLSX)
    if (submitted.status !== 202) throw new Error(`submit ${submitted.status}`)
    const job = await finished(app.as(mz), submitted.json.id)
    if (job.status === 'failed' && !/^the (spreadsheet is refused|file cannot be read): /.test(String(job.error))) throw new Error(`failed without a reason: ${job.error}`)
    if (job.status === 'succeeded' && job.counts.received > w.names.length) throw new Error(`counts ${JSON.stringify(job.counts)}`)
    const outcome = job.status === 'succeeded' ? `succeeded, ${job.counts.received} rows` : String(job.error).replace(/:.*?: /, ': ').slice(0, 40)
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    const left = readdirSync(tmp)
    if (left.length > 0) throw new Error(`left in the temp directory: ${left.join(', ')}`)
  }), { numRuns: 40, asyncReporter: async (d) => { if (d.failed) throw new Error(failure(d)) } })
  const [open] = await queryRows<{ n: number }>(app.database.db, sql`SELECT count(*)::int AS n FROM exchange_jobs WHERE status IN ('queued', 'running', 'receiving') AND submitted_by = ${mz.sub}`)
  t.equal(open!.n, 0, 'no job left running')
  t.comment(JSON.stringify(outcomes))
  t.ok(Object.keys(outcomes).some(o => o.startsWith('succeeded')) && Object.keys(outcomes).some(o => !o.startsWith('succeeded')), 'both outcomes drawn')
})
