import { headProblem, type PublicJwk, type TreeHead } from '../../shared/tree-heads.js'
import { CompactRange, leafHash } from './audit-merkle.js'

export type OfflineResult =
  | { ok: true, treeSize: number, rootHash: string }
  /** `position`: the first bad position, when the fault can be placed (a forged head or a root that differs cannot). */
  | { ok: false, position: number | null, reason: string }

const HASH = /^[0-9a-f]{64}$/

/**
 * Checks an exported log (`GET /api/v1/audit/log` from position 1, NDJSON lines) against
 * a signed tree head and the public keys, with no database and no service: the head's
 * signature; every position present once and in order; every full entry's content
 * against its `leafHash`; and the root of the first `treeSize` leaves against the head's.
 * Lines beyond the head's size are not looked at.
 */
export async function verifyExport (lines: AsyncIterable<string> | Iterable<string>, head: TreeHead, keys: readonly PublicJwk[]): Promise<OfflineResult> {
  const bad = (position: number | null, reason: string): OfflineResult => ({ ok: false, position, reason })
  const problem = headProblem(head, keys)
  if (problem !== null) return bad(null, `the tree head: ${problem}`)
  const range = new CompactRange()
  for await (const line of lines) {
    if (range.size === head.treeSize) break
    if (line.trim() === '') continue
    const expected = range.size + 1
    let record: Record<string, unknown>
    try { record = JSON.parse(line) as Record<string, unknown> } catch { return bad(expected, 'the line is not JSON') }
    const { leafHash: leaf, ...entry } = record
    if (record.seq !== expected) {
      return bad(expected, typeof record.seq === 'number' && record.seq > expected
        ? `position ${expected} is missing (the next line is position ${record.seq})`
        : `a line with position ${String(record.seq)} stands where position ${expected} belongs (inserted or moved)`)
    }
    if (typeof leaf !== 'string' || !HASH.test(leaf)) return bad(expected, 'the line has no leafHash')
    // An entry outside the exporter's area comes as { seq, leafHash } alone: only the root can vouch for it.
    if (Object.keys(entry).length > 1 && leafHash(entry).toString('hex') !== leaf) return bad(expected, 'the entry was altered: its content does not make its leafHash')
    range.append(Buffer.from(leaf, 'hex'))
  }
  if (range.size < head.treeSize) return bad(range.size + 1, `the log ends at position ${range.size}, before the head's size ${head.treeSize}`)
  const root = range.root().toString('hex')
  if (root !== head.rootHash) return bad(null, 'the entries do not make the signed root: an entry or a leafHash was changed, added or removed')
  return { ok: true, treeSize: head.treeSize, rootHash: root }
}
