/** Applies the committed migrations and the reference seed to the configured database: npm run migrate */
import pino from 'pino'
import { ConfigError, loadConfig } from '../config.js'
import { openDatabase } from '../db/index.js'
import { migrateAndSeed } from '../infra/migrate.js'

const log = pino()
try {
  const config = loadConfig()
  const database = await openDatabase(config.database, log)
  try {
    await migrateAndSeed(database, config)
    log.info({ database: database.kind }, 'migrated and seeded')
  } finally {
    await database.close()
  }
} catch (err) {
  if (err instanceof ConfigError) console.error(err.message)
  else log.error({ err }, 'migration failed')
  process.exit(1)
}
