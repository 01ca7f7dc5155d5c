/**
 * Reads an uploaded file as records, streaming, whatever its size: NDJSON, CSV (UTF-8
 * with or without BOM, or GB18030) and .xlsx (first sheet, header row; bounded, see
 * `xlsx.ts`). Each record carries the line (NDJSON, CSV) or row number (xlsx) that
 * officers see in their file.
 */
import { pipeline, Readable } from 'node:stream'
import { parse as csvParse } from 'csv-parse'
import iconv from 'iconv-lite'
import { readSheet, type StoredFile } from './xlsx.js'

export { SpreadsheetRefused, type StoredFile } from './xlsx.js'

export const FORMATS = ['ndjson', 'csv', 'xlsx'] as const
export type Format = typeof FORMATS[number]
export const CHARSETS = ['utf-8', 'gb18030'] as const
export type Charset = typeof CHARSETS[number]

export type ParsedRecord =
  | { line: number, record: Record<string, unknown> }
  | { line: number, error: string }

/** `Content-Type` → format and charset; null when the type is not one the import accepts. */
export function formatOf (contentType: string | undefined): { format: Format, charset: Charset } | { error: string } {
  const [type = '', ...params] = (contentType ?? '').split(';').map(s => s.trim().toLowerCase())
  const charsetParam = params.find(p => p.startsWith('charset='))?.slice(8).replace(/"/g, '')
  const charset = charsetParam === undefined || charsetParam === 'utf-8' || charsetParam === 'utf8'
    ? 'utf-8'
    : ['gb18030', 'gbk', 'gb2312'].includes(charsetParam) ? 'gb18030' : null
  if (charset === null) return { error: `charset ${charsetParam ?? ''} is not supported (utf-8 or gb18030)` }
  if (type === 'application/x-ndjson' || type === 'application/ndjson') return { format: 'ndjson', charset }
  if (type === 'text/csv') return { format: 'csv', charset }
  if (type === 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet') return { format: 'xlsx', charset: 'utf-8' }
  return { error: 'Content-Type must be application/x-ndjson, text/csv or application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' }
}

const normaliseKey = (k: string): string => k.replace(/^\uFEFF/, '').trim().toLowerCase()

/** Decoded text; an error of the source (e.g. the database) reaches the reader. */
function decoded (source: Readable, charset: Charset): NodeJS.ReadableStream {
  const decoder = charset === 'gb18030' ? iconv.decodeStream('gb18030') : iconv.decodeStream('utf-8', { stripBOM: true })
  return pipeline(source, decoder, () => {})
}

/**
 * The decoded text's lines (split at CRLF, LF or CR, as readline does). Read straight
 * from the stream, whose iterator rejects when the stream fails: readline's iterator,
 * used before, could wait for ever when its input failed while it was paused (a database
 * cut while the stored file was read left the job's worker hanging).
 */
async function * lines (source: Readable, charset: Charset): AsyncGenerator<string> {
  let rest = ''
  for await (const text of decoded(source, charset) as AsyncIterable<string>) {
    let buffer = rest + text
    // A CR at the end may be the first half of a CRLF: keep it for the next chunk.
    const cr = buffer.endsWith('\r')
    if (cr) buffer = buffer.slice(0, -1)
    const parts = buffer.split(/\r\n|\r|\n/)
    rest = parts.pop()! + (cr ? '\r' : '')
    yield * parts
  }
  if (rest.endsWith('\r')) rest = rest.slice(0, -1)
  if (rest !== '') yield rest
}

async function * ndjson (source: Readable, charset: Charset): AsyncGenerator<ParsedRecord> {
  let line = 0
  for await (const text of lines(source, charset)) {
    line++
    if (text.trim() === '') continue
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      yield { line, error: 'is not valid JSON' }
      continue
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) yield { line, error: 'must be a JSON object' }
    else yield { line, record: Object.fromEntries(Object.entries(value).map(([k, v]) => [normaliseKey(k), v])) }
  }
}

async function * csv (source: Readable, charset: Charset): AsyncGenerator<ParsedRecord> {
  const parser = csvParse({
    bom: true,
    columns: (header: string[]) => header.map(normaliseKey),
    skip_empty_lines: true,
    relax_column_count: true,
    info: true
  })
  pipeline(decoded(source, charset), parser, () => {})
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>, info: { lines: number } }>) {
      yield { line: info.lines, record }
    }
  } catch (err) {
    // A malformed quote ends the file's readable part: report where, as a row error.
    const e = err as { code?: string, lines?: number, message: string }
    if (typeof e.code !== 'string' || !e.code.startsWith('CSV_')) throw err
    yield { line: e.lines ?? 0, error: `CSV cannot be read from here on: ${e.message}` }
  }
}

async function * xlsx (file: StoredFile, maxExpandedBytes: number): AsyncGenerator<ParsedRecord> {
  let header: string[] | null = null
  for await (const { line, values } of readSheet(file, maxExpandedBytes)) {
    if (header === null) {
      header = Array.from(values, v => normaliseKey(String(v ?? '')))
      continue
    }
    if (values.every(v => v === undefined || v === '')) continue
    yield { line, record: Object.fromEntries(header.map((k, i) => [k, values[i]])) }
  }
}

/** The records of a stored file, in order. `maxExpandedBytes`: what an .xlsx may inflate to. */
export function readRecords (file: StoredFile, format: Format, charset: Charset, maxExpandedBytes: number): AsyncGenerator<ParsedRecord> {
  switch (format) {
    case 'ndjson': return ndjson(Readable.from(file.read(0, file.size)), charset)
    case 'csv': return csv(Readable.from(file.read(0, file.size)), charset)
    case 'xlsx': return xlsx(file, maxExpandedBytes)
  }
}

