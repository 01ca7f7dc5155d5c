import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { planTargets, povertyLines, regions } from './schema/index.js'
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

/**
 * The city's plan targets for 2018–2020 (三门峡市打赢脱贫攻坚战三年行动计划, domain.md):
 * yearly exits of persons and villages, 卢氏县 in 2019, relocation in 2018, 1,000
 * forest-ranger posts by 2020, industry measures reaching ≥ 90% of households that can
 * work with ≥ 2 measures each, employment of able and willing poor workers ≥ 80% by
 * end 2018 and 100% from 2019. 2020's 12,000 persons are those covered by the safety net.
 */
export const PLAN_TARGETS: ReadonlyArray<typeof planTargets.$inferInsert> = [
  { regionCode: '4112', year: 2018, personsToExit: 53_000, villagesToExit: 100, relocationPersons: 14_718, industryCoverageRate: 0.9, industryStackingDegree: 2, employmentRate: 0.8 },
  { regionCode: '4112', year: 2019, personsToExit: 23_000, villagesToExit: 187, countiesToExit: 1, industryCoverageRate: 0.9, industryStackingDegree: 2, employmentRate: 1 },
  { regionCode: '4112', year: 2020, personsToExit: 12_000, villagesToExit: 24, forestRangerPosts: 1000, industryCoverageRate: 0.9, industryStackingDegree: 2, employmentRate: 1 }
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
 * configured seed file, the poverty lines and the plan targets of the seeded regions.
 * Idempotent: existing rows (and any edits made to them since) are left alone.
 */
export async function seedReference (db: Db, regionSeed: string): Promise<void> {
  const rows = readRegionSeed(regionSeed)
  await db.transaction(async (tx) => {
    for (let i = 0; i < rows.length; i += 500) {
      await tx.insert(regions).values(rows.slice(i, i + 500)).onConflictDoNothing()
    }
    await tx.insert(povertyLines).values([...POVERTY_LINES]).onConflictDoNothing()
    const seeded = new Set(rows.map(r => r.code))
    const targets = PLAN_TARGETS.filter(t => seeded.has(t.regionCode))
    if (targets.length > 0) await tx.insert(planTargets).values([...targets]).onConflictDoNothing()
  })
}
