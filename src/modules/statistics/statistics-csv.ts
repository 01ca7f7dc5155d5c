import { csvText, type Table } from '../../shared/spreadsheet.js'
import type { RegionStatistics } from './statistics-service.js'

/**
 * The breakdown table as CSV for offices that work in spreadsheets: one row per
 * child region and a last row with the region's total (合计). UTF-8 with a byte
 * order mark, so that Excel opens the Chinese headers correctly; CRLF line ends
 * (RFC 4180); cells that would start a formula are escaped. Rates are shares (0–1)
 * with 4 decimals, empty where undefined.
 */
const COLUMNS: Table<RegionStatistics>['columns'] = [
  ['区划代码', s => s.region.code],
  ['区划名称', s => s.region.name],
  ['年度', s => s.year],
  ['贫困户数(户)', s => s.households.total],
  ['未脱贫户', s => s.households.poor],
  ['已脱贫户', s => s.households.exited],
  ['返贫户', s => s.households.returned],
  ['销户', s => s.households.closed],
  ['贫困人口(人)', s => s.persons.total],
  ['未脱贫人口', s => s.persons.poor],
  ['已脱贫人口', s => s.persons.exited],
  ['返贫人口', s => s.persons.returned],
  ['当年脱贫户数', s => s.exitedInYear],
  ['当年脱贫人数', s => s.personsExitedInYear],
  ['贫困发生率', s => rate(s.povertyIncidence)],
  ['产业扶贫覆盖率', s => rate(s.industryCoverageRate)],
  ['产业扶贫叠加度', s => s.industryStackingDegree === null ? null : s.industryStackingDegree.toFixed(2)],
  ['就业率', s => rate(s.employmentRate)],
  ['基本医疗保险参保率', s => rate(s.medicalInsuranceRate)],
  ['失学辍学人数', s => s.dropouts],
  ['住房不安全户数', s => s.unsafeHousing],
  ['贫困村', s => s.villages.poor],
  ['深度贫困村', s => s.villages.deepPoverty],
  ['已退出贫困村', s => s.villages.exited],
  ['当年退出贫困村', s => s.villages.exitedInYear],
  ['易地搬迁户数', s => s.relocation.households],
  ['易地搬迁人数', s => s.relocation.persons],
  ['当年搬迁人数', s => s.relocation.personsInYear],
  ['生态护林员岗位', s => s.forestRangerPosts],
  ['小额信贷在贷笔数', s => s.microcredit.loans],
  ['小额信贷余额(元)', s => s.microcredit.outstanding.toFixed(2)],
  ['逾期笔数', s => s.microcredit.overdueLoans],
  ['逾期金额(元)', s => s.microcredit.overdue.toFixed(2)],
  ['措施精准率', s => rate(s.causeMeasureMatchRate)]
]

const rate = (v: number | null): string | null => (v === null ? null : v.toFixed(4))

export function breakdownCsv (stats: RegionStatistics): string {
  const total = { ...stats, region: { ...stats.region, name: `${stats.region.name}(合计)` } }
  return csvText({ sheet: '分区统计', columns: COLUMNS }, [...stats.breakdown, total])
}
