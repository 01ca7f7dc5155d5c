import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'

/** The `prev_hash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64)

export interface ChainedContent {
  seq: bigint
  at: Date
  actorSub: string
  actorRole: string
  action: string
  entity: string
  entityId: string
  regionCode: string
  source: string | null
  before: unknown
  after: unknown
  prevHash: string
}

/** sha256 over the RFC 8785 canonical JSON of the entry's content and the previous entry's hash. */
export function entryHash (e: ChainedContent): string {
  const content = {
    seq: e.seq.toString(),
    at: e.at.toISOString(),
    actorSub: e.actorSub,
    actorRole: e.actorRole,
    action: e.action,
    entity: e.entity,
    entityId: e.entityId,
    regionCode: e.regionCode,
    source: e.source,
    before: e.before ?? null,
    after: e.after ?? null,
    prevHash: e.prevHash
  }
  return createHash('sha256').update(canonicalize(content) ?? '').digest('hex')
}

/** A JSON value as the database will give it back (no undefined, no Date, no class instances). */
export function toJsonValue (value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value)) as unknown
}
