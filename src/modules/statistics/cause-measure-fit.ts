import { sql, type SQL } from 'drizzle-orm'
import { MEASURE_CATEGORIES, type MeasureCategory, type PovertyCause } from '../../shared/labels.js'
import { MEASURE_KINDS } from '../../shared/measure-details.js'

/**
 * 措施精准: which assistance fits which main cause of poverty. A household "matches"
 * in a year when it has at least one measure, not CANCELLED and running in that
 * year, of a category (or, where a kind is named, of that kind) listed for its main
 * cause. This table is the only place the rule lives; the statistics SQL is built
 * from it and docs/statistics.md prints it.
 *
 * `kinds` narrows a category to some of its kinds; omitted, any kind of the category fits.
 */
export interface Fit { category: MeasureCategory, kinds?: readonly string[] }

export const CAUSE_MEASURE_FIT: Record<PovertyCause, readonly Fit[]> = {
  /** 因病: health assistance (insurance subsidy, family doctor, medical aid, chronic-disease card …). */
  ILLNESS: [{ category: 'HEALTH' }],
  /** 因残: rehabilitation and care through health, or the safety net. */
  DISABILITY: [{ category: 'HEALTH' }, { category: 'SOCIAL_SECURITY' }],
  /** 因学: education assistance. */
  EDUCATION: [{ category: 'EDUCATION' }],
  /** 因灾: rebuilding the house, temporary assistance, restarting production. */
  DISASTER: [{ category: 'HOUSING' }, { category: 'SOCIAL_SECURITY' }, { category: 'INDUSTRY' }],
  /** 缺土地: income without land — industry shares, jobs, or moving. */
  LACK_OF_LAND: [{ category: 'INDUSTRY' }, { category: 'EMPLOYMENT' }, { category: 'RELOCATION' }],
  /** 缺水: moving away ("一方水土养不起一方人"), or industry suited to dry land. */
  LACK_OF_WATER: [{ category: 'RELOCATION' }, { category: 'INDUSTRY' }],
  /** 缺技术: skills training (the "EMPLOYMENT training"), not any job placement. */
  LACK_OF_SKILLS: [{ category: 'EMPLOYMENT', kinds: ['skills_training'] }],
  /** 缺劳力: the safety net, posts for weak labour, or asset-income shares (资产收益, meant for households without labour). */
  LACK_OF_LABOR: [{ category: 'SOCIAL_SECURITY' }, { category: 'EMPLOYMENT' }, { category: 'INDUSTRY', kinds: ['asset_income_share'] }],
  /** 缺资金: microcredit, or industry support. */
  LACK_OF_FUNDS: [{ category: 'FINANCE' }, { category: 'INDUSTRY' }],
  /** 交通条件落后: moving, or work away from the village. */
  POOR_TRANSPORT: [{ category: 'RELOCATION' }, { category: 'EMPLOYMENT' }],
  /** 自身发展动力不足: 扶志 through work — jobs or industry with the household's own effort. */
  LACK_OF_MOTIVATION: [{ category: 'EMPLOYMENT' }, { category: 'INDUSTRY' }],
  /** 其他: any measure. */
  OTHER: MEASURE_CATEGORIES.map(category => ({ category }))
}

/** Does a measure of this category and kind fit the cause? (The rule in JavaScript, for tests and documentation.) */
export function fits (cause: PovertyCause, category: string, kind: string): boolean {
  return CAUSE_MEASURE_FIT[cause].some(f => f.category === category && (f.kinds === undefined || f.kinds.includes(kind)))
}

/** The table as SQL rows `(cause, category, kind)`, kind NULL meaning any: one row per pair, so a join never repeats a measure. */
export function fitValuesSql (): SQL {
  const rows: SQL[] = []
  for (const [cause, list] of Object.entries(CAUSE_MEASURE_FIT)) {
    if (new Set(list.map(f => f.category)).size !== list.length) throw new Error(`cause-measure fit: ${cause} names a category twice`)
    for (const f of list) {
      for (const kind of f.kinds ?? [null]) {
        if (kind !== null && !MEASURE_KINDS[f.category].includes(kind)) throw new Error(`cause-measure fit: ${f.category} has no kind ${kind}`)
        rows.push(sql`(${cause}::text, ${f.category}::text, ${kind}::text)`)
      }
    }
  }
  return sql.join(rows, sql`, `)
}
