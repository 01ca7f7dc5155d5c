/**
 * Tables for people who work in spreadsheets (a county clerk's Excel): the same rows as
 * CSV or as an Excel workbook, with Chinese headers, streamed batch by batch so that
 * memory stays bounded by one batch whatever the table's size.
 *
 * - CSV: RFC 4180 with CRLF, UTF-8 with a byte order mark (so that Excel reads the
 *   Chinese), or GB18030 on request (older Excel and WPS on Chinese Windows). Cells
 *   starting with `=`, `+`, `-`, `@`, tab or CR are prefixed with `'` (csv-stringify's
 *   `escape_formulas`), so a name such as `=HYPERLINK(…)` is shown, never run.
 * - xlsx: exceljs's streaming writer, inline strings (no shared-string table growing
 *   with the rows), one sheet. Text is written as text cells, numbers as numbers;
 *   nothing is ever written as a formula.
 */
import { once } from 'node:events'
import { PassThrough, type Readable } from 'node:stream'
import { stringify } from 'csv-stringify/sync'
import ExcelJS from 'exceljs'
import type { FastifyReply } from 'fastify'
import iconv from 'iconv-lite'

export type Cell = string | number | null
export interface Table<T> {
  /** The sheet's name in a workbook. */
  sheet: string
  /** Header and value of each column, in order. */
  columns: ReadonlyArray<readonly [header: string, value: (row: T) => Cell]>
}

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
export const TABLE_FORMATS = ['ndjson', 'csv', 'xlsx'] as const
export type TableFormat = typeof TABLE_FORMATS[number]
export const CSV_CHARSETS = ['utf-8', 'gb18030'] as const
export type CsvCharset = typeof CSV_CHARSETS[number]

const ACCEPTED: Record<string, TableFormat> = { 'application/x-ndjson': 'ndjson', 'text/csv': 'csv', [XLSX_TYPE]: 'xlsx' }

/**
 * The format asked: the `format` query parameter when given, else the most preferred
 * (highest q, then first) of the three media types in Accept, else NDJSON.
 */
export function tableFormat (format: TableFormat | undefined, accept: string | undefined): TableFormat {
  if (format !== undefined) return format
  const ranked = (accept ?? '').split(',').map((part, i) => {
    const [type, ...params] = part.split(';').map(s => s.trim().toLowerCase())
    const q = params.find(p => p.startsWith('q='))
    return { format: ACCEPTED[type ?? ''], q: q === undefined ? 1 : Number(q.slice(2)), i }
  }).filter(r => r.format !== undefined && r.q > 0).sort((a, b) => b.q - a.q || a.i - b.i)
  return ranked[0]?.format ?? 'ndjson'
}

/** Adds request headers the answer depends on to `Vary`, keeping those already there (CORS's `Origin`). */
export function varyOn (reply: FastifyReply, ...fields: string[]): void {
  const current = reply.getHeader('vary')
  reply.header('vary', [...(current === undefined ? [] : [String(current)]), ...fields].join(', '))
}

/** The language asked by Accept-Language among the two the service writes: Chinese (zh, zh-CN, …) or English. */
export function preferredLanguage (acceptLanguage: string | undefined): 'zh' | 'en' {
  const ranked = (acceptLanguage ?? '').split(',').map((part, i) => {
    const [tag, ...params] = part.split(';').map(s => s.trim().toLowerCase())
    const q = params.find(p => p.startsWith('q='))
    const language: 'zh' | 'en' | null = tag === 'zh' || tag?.startsWith('zh-') === true ? 'zh' : tag === 'en' || tag?.startsWith('en-') === true ? 'en' : null
    return { language, q: q === undefined ? 1 : Number(q.slice(2)), i }
  }).filter(r => r.language !== null && r.q > 0).sort((a, b) => b.q - a.q || a.i - b.i)
  return ranked[0]?.language ?? 'en'
}

/** Batches as NDJSON text, one chunk per batch, each item (as `json` makes it) on its line. */
export async function * ndjsonChunks<T> (batches: AsyncIterable<readonly T[]>, json: (item: T) => unknown = item => item): AsyncGenerator<string> {
  for await (const batch of batches) {
    if (batch.length > 0) yield batch.map(item => JSON.stringify(json(item)) + '\n').join('')
  }
}

const csvRows = (rows: Cell[][]): string => stringify(rows, { record_delimiter: '\r\n', escape_formulas: true })

/** A whole small table as CSV text in UTF-8 with BOM (the exit notice, the statistics breakdown). */
export function csvText<T> (table: Table<T>, rows: readonly T[]): string {
  return '\uFEFF' + csvRows([table.columns.map(([h]) => h), ...rows.map(r => table.columns.map(([, f]) => f(r)))])
}

/** The table as CSV chunks, one per batch, in the charset asked (UTF-8 starts with a BOM). */
export async function * csvChunks<T> (batches: AsyncIterable<readonly T[]>, table: Table<T>, charset: CsvCharset): AsyncGenerator<Buffer> {
  const encode = (text: string): Buffer => (charset === 'gb18030' ? iconv.encode(text, 'gb18030') : Buffer.from(text, 'utf8'))
  yield encode((charset === 'utf-8' ? '\uFEFF' : '') + csvRows([table.columns.map(([h]) => h)]))
  for await (const batch of batches) {
    if (batch.length > 0) yield encode(csvRows(batch.map(r => table.columns.map(([, f]) => f(r)))))
  }
}

/** Waits for `stream`'s drain or the end of `out`, whichever comes first (the other listener is removed). */
async function drainedOrClosed (stream: NodeJS.EventEmitter, out: Readable): Promise<void> {
  const ac = new AbortController()
  try {
    await Promise.race([once(stream, 'drain', { signal: ac.signal }), once(out, 'close', { signal: ac.signal })])
  } finally {
    ac.abort()
  }
}

/**
 * Where exceljs's sheet writer hands its XML to the zip: its buffer is piped into this
 * stream (archiver's input for the entry, a readable-stream v2 PassThrough), which
 * needs a drain while XML waits to be compressed. exceljs itself writes on regardless,
 * so the writer below waits on it.
 */
interface ZipInput extends NodeJS.EventEmitter { _writableState: { needDrain: boolean } }
function zipInput (sheet: ExcelJS.Worksheet): ZipInput {
  const input = (sheet as unknown as { stream: { pipes?: Array<Partial<ZipInput>> } }).stream.pipes?.[0]
  if (input?._writableState === undefined) throw new Error('exceljs: the sheet is not piped into the zip')
  return input as ZipInput
}

/**
 * The table as a streamed workbook. Rows are added a batch at a time, and the next
 * batch is read only once the zip has compressed the last one and the reply has taken
 * it: a slow client holds back the database reads as the NDJSON export does, and at
 * most about one batch is held. A client gone ends the reading (the batches'
 * generator is returned).
 */
export function xlsxStream<T> (batches: AsyncIterable<readonly T[]>, table: Table<T>, onError: (err: unknown) => void): Readable {
  const out = new PassThrough()
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useSharedStrings: false, useStyles: false })
  const sheet = workbook.addWorksheet(table.sheet)
  const write = async (): Promise<void> => {
    sheet.addRow(table.columns.map(([h]) => h)).commit()
    const input = zipInput(sheet)
    for await (const batch of batches) {
      for (const r of batch) sheet.addRow(table.columns.map(([, f]) => f(r))).commit()
      while (input._writableState.needDrain && !out.destroyed) await drainedOrClosed(input, out)
      if (out.writableNeedDrain) await drainedOrClosed(out, out) // the compressed batch waits for the reply
      if (out.destroyed) return
    }
    sheet.commit()
    await workbook.commit()
  }
  write().catch((err: unknown) => { onError(err); out.destroy(err as Error) })
  return out
}
