import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { povertyLines, regions } from './schema/index.js'
import type { Db } from './index.js'
import { paths } from '../paths.js'
import { levelOf, parentCodeOf } from '../shared/region-code.js'

/** National poverty line, yuan per person per year at current prices (domain.md). */
export const POVERTY_LINES: ReadonlyArray<{ year: number, amount: number }> = [
  { year: 2014, amount: 2800 },
  { year: 2015, amount: 2855 },
  { year: 2016, amount: 2952 },
  { year: 2017, amount: 3335 },
  { year: 2018, amount: 3535 },
  { year: 2019, amount: 3747 },
  { year: 2020, amount: 4000 }
]

export function readRegionSeed (code: string): Array<typeof regions.$inferInsert> {
  const text = readFileSync(join(paths.seed, `regions-${code}.tsv`), 'utf8')
  return text.split('\n').filter(l => l !== '' && !l.startsWith('#')).map(line => {
    const [c = '', name = '', flags = ''] = line.split('\t')
    const f = flags.split(',')
    return {
      code: c,
      name,
      level: levelOf(c),
      parentCode: parentCodeOf(c),
      isPoor: f.includes('poor'),
      isDeepPoverty: f.includes('deep')
    }
  })
}

/**
 * Loads the reference data a fresh database needs: the region hierarchy of the
 * configured seed file and the poverty lines. Idempotent: existing rows (and any
 * edits made to them since) are left alone.
 */
export async function seedReference (db: Db, regionSeed: string): Promise<void> {
  const rows = readRegionSeed(regionSeed)
  await db.transaction(async (tx) => {
    for (let i = 0; i < rows.length; i += 500) {
      await tx.insert(regions).values(rows.slice(i, i + 500)).onConflictDoNothing()
    }
    await tx.insert(povertyLines).values([...POVERTY_LINES]).onConflictDoNothing()
  })
}
