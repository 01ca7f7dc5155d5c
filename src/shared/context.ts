import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { Db } from '../db/index.js'
import type { DailyCounter } from './daily-counter.js'
import type { Sealer } from './sealing.js'

/** The current time; injectable so that tests can move it (e.g. past a public notice). */
export type Clock = () => Date

/** What services are built from, once per request, together with the principal. */
export interface Deps {
  /**
   * Where this request reads: a read replica for a request that changes nothing when
   * DATABASE_REPLICA_URLS is set (src/infra/replicas.ts), else the primary. It can only
   * read there: a write, and anything read for it, goes to `primary`.
   */
  db: Db
  /** The primary: every transaction, and the reads a write depends on. */
  primary: Db
  config: Config
  clock: Clock
  log: FastifyBaseLogger
  sealer: Sealer
  /** Registrations refused per user today for naming a record outside the user's area (config.registrationRefusalsPerDay). */
  registrationRefusals: DailyCounter
}
