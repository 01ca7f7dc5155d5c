/**
 * Fills a region with synthetic but plausible households, and projects with funds in each of its counties (deterministic per seed):
 *   npm run demo-data -- --households 2000 --region 411224 [--seed 1]
 * Uses the configured database (DATABASE_URL, or the embedded one in DATA_DIR).
 */
import { parseArgs } from 'node:util'
import { generateDemoData, generateDemoProjects } from '../db/demo-data.js'
import { Sealer } from '../shared/sealing.js'
import { isRegionCode } from '../shared/region-code.js'
import { withDatabase } from './with-database.js'

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '2000' },
    region: { type: 'string', default: '411224' },
    seed: { type: 'string', default: '1' }
  }
})
const households = Number(values.households)
const seed = Number(values.seed)
if (!Number.isInteger(households) || households < 1 || households > 10_000_000) { console.error('--households must be a whole number from 1'); process.exit(2) }
if (!isRegionCode(values.region)) { console.error('--region must be an administrative code'); process.exit(2) }
if (!Number.isInteger(seed)) { console.error('--seed must be an integer'); process.exit(2) }

await withDatabase(async (database, config, log) => {
  const sealer = new Sealer(config.dataKey)
  const counts = await generateDemoData(database.db, sealer, { households, region: values.region, seed })
  const funds = await generateDemoProjects(database.db, sealer, { region: values.region, seed })
  log.info({ ...counts, ...funds }, 'demo data generated')
})
