import { leafHash } from './audit-merkle.js'
import type { EntryRow } from './audit-repository.js'

/**
 * An entry as `GET /api/v1/audit/log` exports it (less its `leafHash`): the leaf of the
 * Merkle tree is the hash of exactly this object, so the sequencer, the export and the
 * verification all build it here.
 */
export type ExportedEntry = Omit<EntryRow, 'id' | 'at'> & { seq: number, at: string }

export function exportedEntry (seq: number, row: EntryRow): ExportedEntry {
  return {
    seq,
    at: new Date(row.at).toISOString(),
    actorSub: row.actorSub,
    actorRole: row.actorRole,
    action: row.action,
    entity: row.entity,
    entityId: row.entityId,
    regionCode: row.regionCode,
    source: row.source,
    before: row.before ?? null,
    after: row.after ?? null
  }
}

export function entryLeafHash (seq: number, row: EntryRow): string {
  return leafHash(exportedEntry(seq, row)).toString('hex')
}

/**
 * Audit entries that record a read (a disclosure of personal data), not a change.
 * They are written by `recordRead`, and the change feed leaves them out. A new kind
 * of audited read must be added here.
 */
export const READ_ACTIONS = ['eligibility.check', 'household.export'] as const
export type ReadAction = typeof READ_ACTIONS[number]

/** Entries that change no record, left out of the change feed: reads, and refused registrations (the members module's oracle guard). */
export const NOT_CHANGES: readonly string[] = [...READ_ACTIONS, 'registration.refuse']

/** Whether an entry records a change of a record (the change feed's): its position says so (`audit_log.change`). */
export const recordsChange = (action: string): boolean => !NOT_CHANGES.includes(action)
