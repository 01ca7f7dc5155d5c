import type { Config } from '../config.js'
import type { Database } from '../db/index.js'
import { seedReference } from '../db/seed.js'

/** Applies the committed migrations, then the idempotent reference seed (regions, poverty lines). */
export async function migrateAndSeed (database: Database, config: Pick<Config, 'regionSeed'>): Promise<void> {
  await database.migrate()
  await seedReference(database.db, config.regionSeed)
}
