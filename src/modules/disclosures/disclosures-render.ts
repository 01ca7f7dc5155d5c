/**
 * A disclosure written out as it is read, page by page (memory bounded by one page of
 * projects): JSON, CSV for Excel (UTF-8 with BOM, Chinese headers, CRLF, formulas
 * escaped: src/shared/spreadsheet.ts) and a printable HTML page (A4 landscape, headers
 * repeated on every printed page, nothing wider than the page).
 */
import { csvChunks, type Cell, type Table } from '../../shared/spreadsheet.js'
import { FUND_SOURCES, SOURCE_LABELS, Totals, type DisclosedProject, type DisclosedVillage, type Disclosure } from './disclosures-service.js'

export const DISCLOSURE_FORMATS = ['json', 'csv', 'html'] as const
export type DisclosureFormat = typeof DISCLOSURE_FORMATS[number]

export const title = (d: Disclosure): string => `${d.region.fullName}${d.year}年度扶贫项目资金公告公示`

/** The JSON document, streamed: `{ region, year, projects: [...], totals }`. */
export async function * jsonChunks (d: Disclosure, generatedAt: Date): AsyncGenerator<string> {
  const totals = new Totals()
  yield `{"region":${JSON.stringify(d.region)},"year":${d.year},"title":${JSON.stringify(title(d))},"generatedAt":${JSON.stringify(generatedAt.toISOString())},"projects":[`
  let first = true
  for await (const page of d.pages) {
    let text = ''
    for (const p of page) {
      totals.add(p)
      text += (first ? '' : ',') + JSON.stringify(p)
      first = false
    }
    if (text !== '') yield text
  }
  yield `],"totals":${JSON.stringify(totals.value)}}`
}

/** A CSV line: a project, one of its villages, or the total. */
type Line =
  | { kind: 'project', p: DisclosedProject, n: number }
  | { kind: 'village', p: DisclosedProject, v: DisclosedVillage }
  | { kind: 'total', t: Totals['value'] }

const money = (v: number): string => v.toFixed(2)
const onProject = (f: (p: DisclosedProject, n: number) => Cell) => (l: Line): Cell => l.kind === 'project' ? f(l.p, l.n) : null

function csvTable (perVillage: boolean): Table<Line> {
  const columns: Array<readonly [string, (l: Line) => Cell]> = [
    ['序号', l => l.kind === 'project' ? l.n : l.kind === 'total' ? '合计' : null],
    ['项目编号', l => l.kind === 'total' ? null : l.p.code],
    ['项目名称', l => l.kind === 'total' ? `${l.t.projects}个项目` : l.p.name],
    ['项目类别', onProject(p => p.categoryLabel)],
    ['建设地点', onProject(p => p.region.name)],
    ['项目状态', onProject(p => p.statusLabel)],
    ['计划开工日期', onProject(p => p.plannedStart)],
    ['计划完工日期', onProject(p => p.plannedEnd)],
    ['项目预算(元)', onProject(p => money(p.budget))],
    ...FUND_SOURCES.map(s => [`${SOURCE_LABELS[s]}(元)`, (l: Line): Cell => l.kind === 'project' ? money(l.p.allocations[s]) : l.kind === 'total' ? money(l.t.allocations[s]) : null] as const),
    ['资金下达合计(元)', l => l.kind === 'project' ? money(l.p.allocated) : l.kind === 'total' ? money(l.t.allocated) : null],
    ['资金拨付合计(元)', l => l.kind === 'project' ? money(l.p.paid) : l.kind === 'total' ? money(l.t.paid) : null],
    ['受益户数(户)', l => l.kind === 'project' ? l.p.beneficiaryHouseholds : l.kind === 'total' ? l.t.beneficiaryHouseholds : null]
  ]
  if (perVillage) {
    columns.push(
      ['所在村', l => l.kind === 'village' ? l.v.name : null],
      ['拨付到村(元)', l => l.kind === 'village' ? money(l.v.paid) : null],
      ['本村受益户数(户)', l => l.kind === 'village' ? l.v.beneficiaryHouseholds : null]
    )
  }
  return { sheet: '资金公告公示', columns }
}

/**
 * The CSV: one line per project (its allocations by source, paid, households) and, for
 * a township or village, one line per village under it (the village's payments and
 * households, in their own columns so that each column sums in Excel), then the total.
 */
export function csvStream (d: Disclosure): AsyncGenerator<Buffer> {
  const totals = new Totals()
  async function * lines (): AsyncGenerator<Line[]> {
    let n = 0
    for await (const page of d.pages) {
      const out: Line[] = []
      for (const p of page) {
        totals.add(p)
        out.push({ kind: 'project', p, n: ++n })
        for (const v of p.villages ?? []) out.push({ kind: 'village', p, v })
      }
      yield out
    }
    yield [{ kind: 'total', t: totals.value }]
  }
  return csvChunks(lines(), csvTable(d.perVillage), 'utf-8')
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, c => ESCAPES[c]!)
/** Yuan with thousands separators; a narrow column wraps a large amount only after a separator (`<wbr>`), never inside a group. */
export function yuan (v: number): string {
  const [whole, fen] = Math.abs(v).toFixed(2).split('.') as [string, string]
  return (v < 0 ? '-' : '') + whole.replace(/\B(?=(\d{3})+$)/g, ',<wbr>') + '.' + fen
}

/**
 * Print CSS: A4 landscape with 12 mm margins (273 mm of printable width); the table is
 * laid out at that width (fixed layout, long words broken), its header repeated on every
 * printed page, rows never split across pages.
 */
const STYLE = `
@page { size: A4 landscape; margin: 12mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0 auto; max-width: 273mm; font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "WenQuanYi Micro Hei", "SimSun", sans-serif; font-size: 9pt; color: #000; background: #fff; }
h1 { font-size: 15pt; text-align: center; margin: 0 0 2mm; }
p.meta { text-align: center; margin: 0 0 3mm; font-size: 9pt; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { border: 0.5pt solid #000; padding: 1mm 0.8mm; vertical-align: top; overflow-wrap: anywhere; word-break: break-all; }
th { background: #e8e8e8; font-weight: bold; text-align: center; }
td.num { text-align: right; font-variant-numeric: tabular-nums; font-size: 8pt; overflow-wrap: normal; word-break: keep-all; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
tr.village td { font-size: 8pt; color: #222; }
tr.village td.where { padding-left: 3mm; }
tr.total td { font-weight: bold; border-top: 1pt solid #000; }
footer { margin-top: 3mm; font-size: 8pt; }
col.n { width: 3%; } col.code { width: 9%; } col.name { width: 14%; } col.cat { width: 6%; } col.where { width: 7%; } col.st { width: 5%; }
col.money { width: 5.7%; } col.hh { width: 4.4%; }
`

/** The printable page, streamed. */
export async function * htmlChunks (d: Disclosure, generatedAt: Date): AsyncGenerator<string> {
  const heading = escapeHtml(title(d))
  const money = 9 // budget, six sources, allocated, paid
  const cols = '<col class="n"><col class="code"><col class="name"><col class="cat"><col class="where"><col class="st">' + '<col class="money">'.repeat(money) + '<col class="hh">'
  yield `<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${heading}</title><style>${STYLE}</style></head>
<body><h1>${heading}</h1>
<p class="meta">公示区域：${escapeHtml(d.region.fullName)}（区划代码 ${escapeHtml(d.region.code)}）　年度：${d.year}年　金额单位：元</p>
<table><colgroup>${cols}</colgroup>
<thead><tr><th>序号</th><th>项目编号</th><th>项目名称</th><th>项目类别</th><th>建设地点</th><th>项目状态</th><th>项目预算</th>${FUND_SOURCES.map(s => `<th>${SOURCE_LABELS[s]}</th>`).join('')}<th>资金下达合计</th><th>资金拨付合计</th><th>受益户数</th></tr></thead>
<tbody>
`
  const totals = new Totals()
  let n = 0
  for await (const page of d.pages) {
    let text = ''
    for (const p of page) {
      totals.add(p)
      text += `<tr><td class="num">${++n}</td><td>${escapeHtml(p.code)}</td><td>${escapeHtml(p.name)}</td><td>${escapeHtml(p.categoryLabel)}</td><td>${escapeHtml(p.region.name)}</td><td>${escapeHtml(p.statusLabel)}</td>` +
        `<td class="num">${yuan(p.budget)}</td>${FUND_SOURCES.map(s => `<td class="num">${yuan(p.allocations[s])}</td>`).join('')}` +
        `<td class="num">${yuan(p.allocated)}</td><td class="num">${yuan(p.paid)}</td><td class="num">${p.beneficiaryHouseholds}</td></tr>\n`
      for (const v of p.villages ?? []) {
        text += `<tr class="village"><td></td><td></td><td class="where" colspan="4">其中：${escapeHtml(v.name)}</td><td colspan="${money - 1}"></td>` +
          `<td class="num">${yuan(v.paid)}</td><td class="num">${v.beneficiaryHouseholds}</td></tr>\n`
      }
    }
    if (text !== '') yield text
  }
  const t = totals.value
  if (t.projects === 0) yield `<tr><td colspan="${7 + money}">本年度无项目资金安排。</td></tr>\n`
  yield `<tr class="total"><td colspan="2">合计</td><td colspan="4">${t.projects}个项目</td><td></td>${FUND_SOURCES.map(s => `<td class="num">${yuan(t.allocations[s])}</td>`).join('')}` +
    `<td class="num">${yuan(t.allocated)}</td><td class="num">${yuan(t.paid)}</td><td class="num">${t.beneficiaryHouseholds}</td></tr>
</tbody></table>
<footer>生成时间：${escapeHtml(generatedAt.toISOString().slice(0, 10))}　本公示不含个人身份证号、联系电话、银行账号及健康信息。</footer>
</body></html>
`
}
