/**
 * Rebuilds the statistics summary of a region's stale villages now (e.g. right after a
 * bulk load), so that no user request pays for it:
 *   npm run stats:refresh -- [--region 4112]
 * Uses the configured database (DATABASE_URL, or the embedded one in DATA_DIR).
 */
import { parseArgs } from 'node:util'
import { refreshSummary } from '../modules/statistics/statistics-service.js'
import { isRegionCode } from '../shared/region-code.js'
import { withDatabase } from './with-database.js'

const { values } = parseArgs({ options: { region: { type: 'string', default: '' } } })
await withDatabase(async (database, config, log) => {
  const region = values.region === '' ? config.regionSeed : values.region
  if (!isRegionCode(region)) throw new Error('--region must be an administrative code')
  const start = Date.now()
  const villages = await refreshSummary(database.db, region, new Date().getUTCFullYear()) ?? 0
  log.info({ region, villages, ms: Date.now() - start }, 'statistics summary rebuilt')
})
