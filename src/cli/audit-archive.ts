/**
 * Archives a month of the audit log, then detaches it from the database:
 *   npm run audit:archive -- --month 2026-05 --out /srv/audit-archives [--drop]
 * Writes DIR/audit-YYYY-MM/ (the month's entries as GET /api/v1/audit/log exports them,
 * a signed head covering them, the public keys, the range proof and a manifest), checks
 * that it verifies offline (npm run audit:verify -- --archive DIR/audit-YYYY-MM), and only
 * then detaches the month's partitions (and drops them with --drop). Refuses a month that
 * ended less than AUDIT_ARCHIVE_MIN_MONTHS (at least 6) months ago, one not fully
 * sequenced, one archived already, and an archive that exists. Exits 1 when refused.
 * Uses the configured database (DATABASE_URL, or the embedded one in DATA_DIR).
 */
import { parseArgs } from 'node:util'
import { ArchiveRefused, archiveMonth } from '../modules/audit/audit-archive.js'
import { withDatabase } from './with-database.js'

const usage = 'usage: npm run audit:archive -- --month YYYY-MM --out DIR [--drop]'
let values: { month?: string, out?: string, drop?: boolean }
try {
  values = parseArgs({ options: { month: { type: 'string' }, out: { type: 'string' }, drop: { type: 'boolean', default: false } } }).values
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`)
  process.exit(2)
}
if (values.month === undefined || values.out === undefined) {
  console.error(usage)
  process.exit(2)
}
const { month, out } = values
await withDatabase(async (database, config, log) => {
  try {
    const r = await archiveMonth(database.db, config, { month, out, drop: values.drop === true, now: new Date() })
    log.info(r, 'audit month archived')
    console.log(`archived ${r.month}: ${r.entries} entries (positions ${r.first ?? '–'}..${r.last ?? '–'}) in ${r.dir}, covered by the signed head of size ${r.treeSize}; partitions ${r.dropped ? 'detached and dropped' : 'detached'}`)
  } catch (err) {
    if (!(err instanceof ArchiveRefused)) throw err
    console.error(`refused: ${err.message}`)
    process.exitCode = 1
  }
})
