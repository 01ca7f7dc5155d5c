/**
 * The printable disclosure (公告公示) in a real browser: headless Chromium (Debian's,
 * driven by playwright-core) renders the HTML page, prints it to PDF on A4, and the test
 * checks the number of pages, that nothing is wider than A4's printable width in print
 * media, that the table's header repeats on every printed page, and that the page
 * looks like its reference screenshot (test/reference/disclosure-a4.png) — compared
 * coarsely (downscaled grey levels, with a tolerance), never pixel by pixel, so that a
 * font's hinting cannot fail it. The screenshot taken is left in .tap/ to look at.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import t from 'tap'
import { projectRoot } from '../src/paths.js'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { seedProject, uniqueCode } from './disclosures-support.js'
import { buildApp, uniqueSub, type Client, type TestApp } from './helper.js'

const CHROMIUM = '/usr/bin/chromium'
const REFERENCE = join(projectRoot, 'test', 'reference', 'disclosure-a4.png')
const OUT = join(projectRoot, '.tap', 'screenshots')
/** A4 landscape less the page's 12 mm margins, in CSS pixels (96 per inch). */
const PRINTABLE = { width: Math.floor((297 - 24) / 25.4 * 96), height: Math.floor((210 - 24) / 25.4 * 96) }
const TOWNSHIP = '411224101'
const VILLAGES = ['411224101201', '411224101202']
const CATEGORIES = ['INDUSTRY', 'EMPLOYMENT', 'RELOCATION', 'EDUCATION', 'HOUSING']

async function household (op: Client, village: string): Promise<{ id: string, regionCode: string }> {
  const res = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }', { i: householdInput(village, { members: [memberInput({ name: '王守业', nationalId: nationalId('1961-01-01') })] }) })
  return { id: res.data.createHousehold.id, regionCode: village }
}

/** A township's year with `n` projects of long names and large amounts, two villages each. */
async function township (app: TestApp, year: number, n: number): Promise<void> {
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: TOWNSHIP })
  const households = [await household(op, VILLAGES[0]!), await household(op, VILLAGES[1]!)]
  const tag = uniqueCode('411224-' + year)
  for (let i = 0; i < n; i++) {
    await seedProject(app, {
      regionCode: TOWNSHIP,
      code: `${tag}-${String(i + 1).padStart(4, '0')}`,
      name: `杜关镇第${i + 1}期特色种养殖产业扶贫基地及配套冷链仓储设施建设项目`,
      category: CATEGORIES[i % CATEGORIES.length],
      budget: 98_765_432.1,
      plannedStart: `${year}-03-01`,
      allocations: [
        { source: 'CENTRAL', amount: 12_345_678.9, date: `${year}-02-01` },
        { source: 'PROVINCE', amount: 2_345_678.01, date: `${year}-02-02` },
        { source: 'INTEGRATED', amount: 345_678.5, date: `${year}-02-03` }
      ],
      households,
      payments: [{ householdId: households[0]!.id, amount: 3000, date: `${year}-05-01` }, { householdId: households[1]!.id, amount: 1234.56, date: `${year}-05-02` }]
    })
  }
}

/** PDF pages: Chromium writes each page's dictionary as `/Type /Page`. */
const pageCount = (pdf: Buffer): number => (pdf.toString('latin1').match(/\/Type\s*\/Page(?![s\w])/g) ?? []).length

/** Width checks in print media at A4's printable width: the document and each cell fit. */
async function overflow (page: Page): Promise<{ document: number, widest: number, cellsOverflowing: number }> {
  // Run in the page (its DOM, not this program's types).
  return await page.evaluate(`(() => {
    const cells = [...document.querySelectorAll('th, td')]
    return {
      document: document.documentElement.scrollWidth,
      widest: Math.max(...[...document.querySelectorAll('table, h1, p, footer')].map(e => e.getBoundingClientRect().right)),
      cellsOverflowing: cells.filter(c => c.scrollWidth > c.clientWidth + 1).length
    }
  })()`)
}

/** The image's grey levels on a 48 × 32 grid (drawn by the browser itself), and its share of non-white pixels. */
async function fingerprint (page: Page, png: Buffer): Promise<{ width: number, height: number, grid: number[], ink: number }> {
  return await page.evaluate(`(async (src) => {
    const img = new Image()
    img.src = src
    await img.decode()
    const full = document.createElement('canvas')
    full.width = img.width; full.height = img.height
    const fc = full.getContext('2d')
    fc.drawImage(img, 0, 0)
    const data = fc.getImageData(0, 0, img.width, img.height).data
    let ink = 0
    for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] < 600) ink++
    const small = document.createElement('canvas')
    small.width = 48; small.height = 32
    const sc = small.getContext('2d')
    sc.imageSmoothingQuality = 'high'
    sc.drawImage(img, 0, 0, 48, 32)
    const s = sc.getImageData(0, 0, 48, 32).data
    const grid = []
    for (let i = 0; i < s.length; i += 4) grid.push((s[i] + s[i + 1] + s[i + 2]) / 3)
    return { width: img.width, height: img.height, grid, ink: ink / (img.width * img.height) }
  })('data:image/png;base64,${png.toString('base64')}')`)
}

let browser: Browser | null = null
t.before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] })
})
t.teardown(async () => { await browser?.close() })

async function printed (app: TestApp, year: number): Promise<{ page: Page, pdf: Buffer }> {
  const viewer = app.as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: TOWNSHIP })
  const res = await viewer.get(`/api/v1/disclosures/funds?region=${TOWNSHIP}&year=${year}&format=html`)
  if (res.statusCode !== 200) throw new Error(res.body)
  const page = await browser!.newPage({ viewport: PRINTABLE })
  await page.emulateMedia({ media: 'print' })
  await page.setContent(res.body, { waitUntil: 'load' })
  const pdf = await page.pdf({ format: 'A4', preferCSSPageSize: true, printBackground: true })
  return { page, pdf }
}

t.test('a short disclosure prints on one A4 page, within the printable width, and looks like its reference', async (t) => {
  const app = await buildApp(t)
  await township(app, 2022, 3)
  const { page, pdf } = await printed(app, 2022)
  t.equal(pdf.subarray(0, 5).toString(), '%PDF-')
  t.equal(pageCount(pdf), 1, 'one page')
  const o = await overflow(page)
  t.ok(o.document <= PRINTABLE.width, `the document is ${o.document}px wide, A4 landscape prints ${PRINTABLE.width}px`)
  t.ok(o.widest <= PRINTABLE.width, `its widest block ends at ${o.widest}px`)
  t.equal(o.cellsOverflowing, 0, 'no cell\'s content wider than the cell')
  t.equal(await page.locator('h1').textContent(), '河南省三门峡市卢氏县杜关镇2022年度扶贫项目资金公告公示')
  t.match(await page.locator('tr.total').textContent(), /合计3个项目.*37,037,036\.70/)

  const png = await page.screenshot({ fullPage: false })
  mkdirSync(OUT, { recursive: true })
  writeFileSync(join(OUT, 'disclosure-a4.png'), png)
  const shot = await fingerprint(page, png)
  t.same([shot.width, shot.height], [PRINTABLE.width, PRINTABLE.height], 'the screenshot has the printable page\'s size')
  t.ok(shot.ink > 0.02 && shot.ink < 0.6, `it is not blank (${(shot.ink * 100).toFixed(1)} % ink)`)
  if (!existsSync(REFERENCE)) {
    writeFileSync(REFERENCE, png)
    t.comment('reference screenshot written: commit test/reference/disclosure-a4.png')
  }
  const ref = await fingerprint(page, readFileSync(REFERENCE))
  t.same([ref.width, ref.height], [shot.width, shot.height], 'the reference has the same size')
  const diff = shot.grid.reduce((sum, g, i) => sum + Math.abs(g - ref.grid[i]!), 0) / shot.grid.length
  t.ok(diff < 12, `the layout matches the reference (mean grey difference ${diff.toFixed(2)} of 255 on a 48×32 grid)`)
  await page.close()
})

t.test('a long disclosure runs over several A4 pages, the header repeated on each, still within the width', async (t) => {
  const app = await buildApp(t)
  await township(app, 2023, 40)
  const { page, pdf } = await printed(app, 2023)
  const pages = pageCount(pdf)
  // 40 projects and 80 village lines: at least one page per 45 lines, at most one per 10.
  t.ok(pages >= 3 && pages <= 12, `${pages} pages`)
  const o = await overflow(page)
  t.ok(o.document <= PRINTABLE.width, `the document is ${o.document}px wide`)
  t.equal(o.cellsOverflowing, 0)
  const header = await page.evaluate('getComputedStyle(document.querySelector("thead")).display')
  t.equal(header, 'table-header-group', 'the header is a header group: Chromium repeats it on every printed page')
  await page.close()
})
