import { count } from 'drizzle-orm'
import type { Config } from '../config.js'
import { generateDemoData, generateDemoProjects } from '../db/demo-data.js'
import type { Database } from '../db/index.js'
import { households } from '../db/schema/index.js'
import { seedReference } from '../db/seed.js'
import { Sealer } from '../shared/sealing.js'

/**
 * Applies the committed migrations, then the idempotent reference seed (regions, poverty
 * lines) and, given the demo settings, the demo data of a first start — under the
 * start-up lock, so that replicas starting together on one database do each once (without
 * it, processes that all found the registry empty all loaded the demo households: the
 * first succeeded, the others failed on its household numbers and did not start).
 * Returns whether the demo data was loaded.
 */
export async function migrateAndSeed (database: Database, config: Pick<Config, 'regionSeed'>, demo?: Pick<Config, 'demoData' | 'dataKey'>): Promise<boolean> {
  let loaded = false
  await database.migrate(async () => {
    await seedReference(database.db, config.regionSeed)
    if (demo !== undefined) loaded = await loadDemoDataIfEmpty(database, { ...demo, regionSeed: config.regionSeed })
  })
  return loaded
}

/** A newcomer's first start: 200 demo households in 卢氏县, and its projects with their funds, when the registry is empty (DEMO_DATA). */
export async function loadDemoDataIfEmpty (database: Database, config: Pick<Config, 'demoData' | 'dataKey' | 'regionSeed'>): Promise<boolean> {
  if (!config.demoData || config.regionSeed !== '4112') return false
  const [row] = await database.db.select({ n: count() }).from(households)
  if ((row?.n ?? 0) > 0) return false
  const sealer = new Sealer(config.dataKey)
  await generateDemoData(database.db, sealer, { households: 200, region: '411224', seed: 1 })
  await generateDemoProjects(database.db, sealer, { region: '411224', seed: 1 })
  return true
}
