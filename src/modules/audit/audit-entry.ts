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
