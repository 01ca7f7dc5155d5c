import fp from 'fastify-plugin'
import { sql } from 'drizzle-orm'
import type { Database, Db } from '../db/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    database: Database
  }
}

/** Decorates the app with the database it was given and closes it with the app. */
export default fp<{ database: Database, closeDatabase: boolean }>(async (app, opts) => {
  app.decorate('database', opts.database)
  app.decorate('db', opts.database.db)
  if (opts.closeDatabase) app.addHook('onClose', async () => { await opts.database.close() })
}, { name: 'db' })

/** True while the database answers a trivial query within `timeoutMs`. */
export async function databaseAnswers (db: Db, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)
    })
    await Promise.race([db.execute(sql`SELECT 1`), timeout])
    return true
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
