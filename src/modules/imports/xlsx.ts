/**
 * Reads the first sheet of an .xlsx file (a zip of XML parts) as rows of cell values,
 * within bounds: a spreadsheet may not expand beyond what the service can afford.
 *
 * The zip is read in place, by random access to the stored file (yauzl over
 * `StoredFile.read`), never spooled to disk: its central directory is checked before
 * any part is inflated (entry count, each part's declared size and compression ratio,
 * their total, encryption), and every part is counted again as it inflates (yauzl
 * refuses a part that inflates beyond its declared size; the total is held to the same
 * budget; no run of text or tag may pass MARKUP_GAP bytes). The shared strings are read
 * first whatever their place in the zip (the only part held in memory, and bounded);
 * the sheet then streams through a SAX parser (saxes), with bounds on cell length,
 * columns and rows. Anything beyond a bound is refused with a clear reason
 * (`SpreadsheetRefused`): a refused file is a permanent failure of its job.
 */
import { posix } from 'node:path'
import { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { SaxesParser, type SaxesTag } from 'saxes'
import yauzl from 'yauzl'

/** A stored file, read by byte range ([start, end)). */
export interface StoredFile {
  size: number
  read: (start: number, end: number) => AsyncIterable<Buffer>
}

const MiB = 1024 * 1024

export const XLSX_LIMITS = {
  /** Parts in the zip (a workbook has a dozen or so). */
  entries: 1000,
  /** Uncompressed ÷ compressed size of any part larger than `ratioFromBytes` (XML of real sheets: 5–30). */
  ratio: 100,
  ratioFromBytes: MiB,
  /** The shared strings, the one part held in memory. */
  sharedStringsBytes: 128 * MiB,
  /** Characters of a cell or shared string (Excel's own limit). */
  cellChars: 32_767,
  /** Columns that may hold a value (the kinds have at most 5 fields; a header of 256 is plenty). */
  columns: 256,
  /** Rows (Excel's own limit). */
  rows: 1_048_576,
  /** Longest stretch of a part without markup (a text node or a tag): a cell's 32,767 characters fit many times. */
  markupGap: MiB
} as const

/** The file is beyond a bound or not a spreadsheet the reader accepts: its job fails, never to be retried. */
export class SpreadsheetRefused extends Error {}

const refuse = (reason: string): never => { throw new SpreadsheetRefused(reason) }

/** yauzl's random access, over the stored file. */
class StoredReader extends yauzl.RandomAccessReader {
  constructor (private readonly file: StoredFile) { super() }
  override _readStreamForRange (start: number, end: number): Readable {
    return Readable.from(this.file.read(start, end), { objectMode: false })
  }
}

interface Zip {
  zip: yauzl.ZipFile
  /** Parts by lower-case name. */
  parts: Map<string, yauzl.Entry>
  /** Bytes left to inflate, over all parts. */
  budget: { left: number }
}

/** The zip's parts, checked from the central directory before anything is inflated. */
async function openZip (file: StoredFile, maxExpandedBytes: number): Promise<Zip> {
  const zip = await yauzl.fromRandomAccessReaderPromise(new StoredReader(file), file.size, { lazyEntries: true, autoClose: false, validateEntrySizes: true, decodeStrings: true, strictFileNames: false })
  try {
    if (zip.entryCount > XLSX_LIMITS.entries) refuse(`it has ${zip.entryCount} parts (at most ${XLSX_LIMITS.entries})`)
    const parts = await new Promise<Map<string, yauzl.Entry>>((resolve, reject) => {
      const found = new Map<string, yauzl.Entry>()
      let total = 0
      zip.on('error', reject)
      zip.on('end', () => { resolve(found) })
      zip.on('entry', (entry: yauzl.Entry) => {
        try {
          const name = entry.fileName.replace(/^\/+/, '').toLowerCase()
          if (found.has(name)) refuse(`it has two parts named ${entry.fileName}`)
          if (entry.isEncrypted()) refuse(`${entry.fileName} is encrypted`)
          if (entry.uncompressedSize > XLSX_LIMITS.ratioFromBytes && entry.uncompressedSize / Math.max(1, entry.compressedSize) > XLSX_LIMITS.ratio) {
            refuse(`${entry.fileName} expands ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))} times (at most ${XLSX_LIMITS.ratio})`)
          }
          total += entry.uncompressedSize
          if (total > maxExpandedBytes) refuse(`it expands to more than ${Math.floor(maxExpandedBytes / MiB)} MiB (IMPORT_XLSX_MAX_MB)`)
          found.set(name, entry)
          zip.readEntry()
        } catch (err) {
          reject(err)
        }
      })
      zip.readEntry()
    })
    return { zip, parts, budget: { left: maxExpandedBytes } }
  } catch (err) {
    zip.close()
    throw err
  }
}

/** A part's text as it inflates, counted against the budget and the markup gap. */
async function * partText (z: Zip, entry: yauzl.Entry): AsyncGenerator<string> {
  const stream = await z.zip.openReadStreamPromise(entry)
  const decoder = new StringDecoder('utf8')
  let sinceMarkup = 0
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      z.budget.left -= chunk.length
      if (z.budget.left < 0) refuse('it expands to more than IMPORT_XLSX_MAX_MB')
      let from = 0
      for (let i = chunk.indexOf(0x3c); i !== -1; i = chunk.indexOf(0x3c, i + 1)) {
        if (sinceMarkup + i - from > XLSX_LIMITS.markupGap) break
        sinceMarkup = 0
        from = i
      }
      sinceMarkup += chunk.length - from
      if (sinceMarkup > XLSX_LIMITS.markupGap) refuse(`${entry.fileName} has more than ${XLSX_LIMITS.markupGap} bytes of text or tag in one stretch`)
      yield decoder.write(chunk)
    }
    yield decoder.end()
  } finally {
    stream.destroy()
  }
}

const localName = (name: string): string => name.slice(name.indexOf(':') + 1)

/**
 * Feeds a part to a SAX parser; `after` is called after each chunk and returns what
 * the chunk completed (rows), to be yielded before the next chunk is read.
 */
async function * parse<T> (z: Zip, entry: yauzl.Entry, handlers: { open?: (name: string, attributes: Record<string, string>) => void, close?: (name: string) => void, text?: (text: string) => void }, after: () => T[] = () => []): AsyncGenerator<T> {
  const parser = new SaxesParser({ xmlns: false, position: false })
  const { open, close, text } = handlers
  if (open !== undefined) parser.on('opentag', (tag: SaxesTag) => { open(localName(tag.name), tag.attributes as Record<string, string>) })
  if (close !== undefined) parser.on('closetag', (tag: SaxesTag) => { close(localName(tag.name)) })
  if (text !== undefined) { parser.on('text', text); parser.on('cdata', text) }
  for await (const chunk of partText(z, entry)) {
    parser.write(chunk)
    yield * after()
  }
  parser.close()
  yield * after()
}

async function drain (it: AsyncGenerator<never>): Promise<void> {
  for await (const _ of it) { /* events only */ }
}

function part (z: Zip, name: string): yauzl.Entry | undefined {
  return z.parts.get(name.replace(/^\/+/, '').toLowerCase())
}

/** The first sheet's part, the shared strings' and the styles' (by the workbook's relationships), and the date system. */
async function workbook (z: Zip): Promise<{ sheet: yauzl.Entry, sharedStrings?: yauzl.Entry, styles?: yauzl.Entry, date1904: boolean }> {
  const book = part(z, 'xl/workbook.xml') ?? refuse('it has no xl/workbook.xml (not an .xlsx workbook)')
  let firstSheet: string | null = null
  let date1904 = false
  await drain(parse(z, book, {
    open: (name, a) => {
      if (name === 'sheet' && firstSheet === null) firstSheet = Object.entries(a).find(([k]) => localName(k) === 'id' && k.includes(':'))?.[1] ?? ''
      if (name === 'workbookPr') date1904 = a.date1904 === '1' || a.date1904 === 'true'
    }
  }))
  const targets = new Map<string, string>()
  const byType = new Map<string, string>()
  const rels = part(z, 'xl/_rels/workbook.xml.rels')
  if (rels !== undefined) {
    await drain(parse(z, rels, {
      open: (name, a) => {
        if (name !== 'Relationship' || a.Target === undefined) return
        const target = a.Target.startsWith('/') ? a.Target.slice(1) : posix.normalize(`xl/${a.Target}`)
        if (a.Id !== undefined) targets.set(a.Id, target)
        const type = a.Type?.slice(a.Type.lastIndexOf('/') + 1)
        if (type !== undefined && !byType.has(type)) byType.set(type, target)
      }
    }))
  }
  const sheetName = firstSheet === null ? null : targets.get(firstSheet) ?? 'xl/worksheets/sheet1.xml'
  const sheet = (sheetName === null ? undefined : part(z, sheetName)) ?? refuse('its first sheet is missing')
  const sharedStrings = part(z, byType.get('sharedStrings') ?? 'xl/sharedStrings.xml')
  const styles = part(z, byType.get('styles') ?? 'xl/styles.xml')
  return { sheet, sharedStrings, styles, date1904 }
}

/** Excel's built-in date formats (14–22; 27–36, 45–47 and 50–58 in East Asian locales). */
const BUILTIN_DATE_FORMATS = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 45, 46, 47, 50, 51, 52, 53, 54, 55, 56, 57, 58])
/** A custom number format that shows a date: y, m, d, h or s outside quotes and brackets (as exceljs reads it). */
const isDateFormat = (code: string): boolean => /[ymdhMsb]/.test(code.replace(/\[[^\]]*]/g, '').replace(/"[^"]*"/g, ''))

/** For each cell style (index of cellXfs), whether its number format is a date. */
async function dateStyles (z: Zip, styles: yauzl.Entry | undefined): Promise<boolean[]> {
  if (styles === undefined) return []
  const custom = new Map<number, boolean>()
  const xfs: number[] = []
  let inCellXfs = false
  await drain(parse(z, styles, {
    open: (name, a) => {
      if (name === 'numFmt') custom.set(Number(a.numFmtId), isDateFormat(a.formatCode ?? ''))
      else if (name === 'cellXfs') inCellXfs = true
      else if (name === 'xf' && inCellXfs) xfs.push(Number(a.numFmtId ?? 0))
    },
    close: (name) => { if (name === 'cellXfs') inCellXfs = false }
  }))
  return xfs.map(id => custom.get(id) ?? BUILTIN_DATE_FORMATS.has(id))
}

/** OOXML's escapes of characters XML cannot hold (`_x0001_`; `_x005F_` for a literal `_`), as Excel writes them. */
const unescapeXstring = (s: string): string => s.includes('_x') ? s.replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : s

/** Text of `<t>` elements outside phonetic runs (`<rPh>`), bounded by the cell length. */
function textCollector (where: () => string): { open: (name: string) => void, close: (name: string) => void, text: (t: string) => void, take: () => string } {
  let inT = false
  let inPhonetic = false
  let parts: string[] = []
  let length = 0
  return {
    open: (name) => { if (name === 't') inT = true; else if (name === 'rPh') inPhonetic = true },
    close: (name) => { if (name === 't') inT = false; else if (name === 'rPh') inPhonetic = false },
    text: (t) => {
      if (!inT || inPhonetic) return
      length += t.length
      if (length > XLSX_LIMITS.cellChars) refuse(`${where()} is longer than ${XLSX_LIMITS.cellChars} characters`)
      parts.push(t)
    },
    take: () => { const s = unescapeXstring(parts.join('')); parts = []; length = 0; return s }
  }
}

async function sharedStringsOf (z: Zip, entry: yauzl.Entry | undefined): Promise<string[]> {
  if (entry === undefined) return []
  if (entry.uncompressedSize > XLSX_LIMITS.sharedStringsBytes) refuse(`its shared strings expand to more than ${XLSX_LIMITS.sharedStringsBytes / MiB} MiB`)
  const strings: string[] = []
  const text = textCollector(() => `shared string ${strings.length}`)
  await drain(parse(z, entry, {
    open: text.open,
    close: (name) => { text.close(name); if (name === 'si') strings.push(text.take()) },
    text: text.text
  }))
  return strings
}

/** Column index (0-based) of a cell reference such as `AB12`. */
function columnOf (ref: string): number {
  let n = 0
  for (const ch of ref) {
    const c = ch.charCodeAt(0)
    if (c < 65 || c > 90) break
    n = n * 26 + c - 64
    if (n > 16_384) break
  }
  return n - 1
}

export interface SheetRow { line: number, values: unknown[] }

/** The rows of the workbook's first sheet, numbered as in the spreadsheet; cell values as plain values (dates YYYY-MM-DD). */
export async function * readSheet (file: StoredFile, maxExpandedBytes: number): AsyncGenerator<SheetRow> {
  const z = await openZip(file, maxExpandedBytes)
  try {
    const { sheet, sharedStrings, styles, date1904 } = await workbook(z)
    const isDate = await dateStyles(z, styles)
    const strings = await sharedStringsOf(z, sharedStrings)
    const epoch = date1904 ? 24107 : 25569 // days from Excel's day 0 to 1970-01-01
    const dateOf = (serial: number): string | undefined => {
      const d = new Date(Math.round((serial - epoch) * 86_400) * 1000)
      return Number.isNaN(d.getTime()) ? undefined : d.toISOString().slice(0, 10)
    }

    const done: SheetRow[] = []
    let rowNumber = 0
    let values: unknown[] = []
    let column = -1
    let cell: { ref: string, type: string, style: number } | null = null
    let inValue = false
    let value: string[] = []
    let valueLength = 0
    const where = (): string => `cell ${cell?.ref ?? ''} of row ${rowNumber}`
    const inline = textCollector(where)

    const cellValue = (c: { type: string, style: number }, v: string, inlineText: string): unknown => {
      switch (c.type) {
        case 's': {
          if (v === '') return undefined
          const s = strings[Number(v)]
          return s ?? refuse(`${where()} refers to shared string ${v}, which does not exist`)
        }
        case 'inlineStr': return inlineText
        case 'str': return unescapeXstring(v)
        case 'b': return v === '1' || v === 'true'
        case 'e': return undefined
        case 'd': {
          const d = new Date(v)
          return Number.isNaN(d.getTime()) ? undefined : d.toISOString().slice(0, 10)
        }
        default: {
          if (v.trim() === '') return undefined
          const n = Number(v)
          if (!Number.isFinite(n)) return v
          return isDate[c.style] === true ? dateOf(n) : n
        }
      }
    }

    yield * parse<SheetRow>(z, sheet, {
      open: (name, a) => {
        switch (name) {
          case 'row':
            rowNumber = a.r !== undefined ? Number(a.r) : rowNumber + 1
            if (!Number.isInteger(rowNumber) || rowNumber < 1 || rowNumber > XLSX_LIMITS.rows) refuse(`it has a row numbered ${a.r ?? rowNumber} (at most ${XLSX_LIMITS.rows} rows)`)
            values = []
            column = -1
            break
          case 'c':
            column = a.r !== undefined ? columnOf(a.r) : column + 1
            cell = { ref: a.r ?? `#${column + 1}`, type: a.t ?? 'n', style: Number(a.s ?? 0) }
            value = []
            valueLength = 0
            inline.take()
            break
          case 'v':
            inValue = true
            break
          default:
            inline.open(name)
        }
      },
      close: (name) => {
        switch (name) {
          case 'v':
            inValue = false
            break
          case 'c': {
            if (cell === null) break
            const v = cellValue(cell, value.join(''), inline.take())
            if (v !== undefined && v !== '') {
              if (column < 0 || column >= XLSX_LIMITS.columns) refuse(`${where()} is beyond column ${XLSX_LIMITS.columns}`)
              values[column] = v
            }
            cell = null
            break
          }
          case 'row':
            done.push({ line: rowNumber, values })
            values = []
            break
          default:
            inline.close(name)
        }
      },
      text: (t) => {
        if (cell === null) return
        if (inValue) {
          valueLength += t.length
          if (valueLength > XLSX_LIMITS.cellChars) refuse(`${where()} is longer than ${XLSX_LIMITS.cellChars} characters`)
          value.push(t)
        } else {
          inline.text(t)
        }
      }
    }, () => done.splice(0))
  } finally {
    z.zip.close()
  }
}
