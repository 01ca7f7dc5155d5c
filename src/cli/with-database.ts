import pino from 'pino'
import { ConfigError, loadConfig, type Config } from '../config.js'
import { openDatabase, type Database } from '../db/index.js'
import { migrateAndSeed } from '../infra/migrate.js'

/** Runs a command-line task on the configured database, migrated and seeded; exits 1 on failure. */
export async function withDatabase (task: (database: Database, config: Config, log: pino.Logger) => Promise<void>): Promise<void> {
  const log = pino()
  try {
    const config = loadConfig()
    const database = await openDatabase(config.database, log)
    try {
      await migrateAndSeed(database, config)
      await task(database, config, log)
    } finally {
      await database.close()
    }
  } catch (err) {
    if (err instanceof ConfigError) console.error(err.message)
    else log.error({ err }, 'failed')
    process.exit(1)
  }
}
