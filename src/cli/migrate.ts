/** Applies the committed migrations and the reference seed to the configured database: npm run migrate */
import { withDatabase } from './with-database.js'

await withDatabase(async (database, _config, log) => { log.info({ database: database.kind }, 'migrated and seeded') })
