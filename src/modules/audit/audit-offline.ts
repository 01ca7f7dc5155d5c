import { headProblem, type PublicJwk, type TreeHead } from '../../shared/tree-heads.js'
import { CompactRange, leafHash, rangeNodes } from './audit-merkle.js'

export type OfflineResult =
  | { ok: true, treeSize: number, rootHash: string }
  /** `position`: the first bad position, when the fault can be placed (a forged head or a root that differs cannot). */
  | { ok: false, position: number | null, reason: string }

const HASH = /^[0-9a-f]{64}$/

/**
 * What an archive of positions first..last (`npm run audit:archive`) carries to be
 * verified without the positions before and after it: the hashes of the complete
 * subtrees of leaves [0, first − 1) (`left`) and [last, treeSize) (`right`), in the order
 * `rangeNodes` lists them.
 */
export interface RangeProof { first: number, last: number, treeSize: number, left: string[], right: string[] }

/**
 * Checks an exported log (`GET /api/v1/audit/log` from position 1 — or, with a range
 * proof, an archive's positions first..last — NDJSON lines) against
 * a signed tree head and the public keys, with no database and no service: the head's
 * signature; every position present once and in order; every full entry's content
 * against its `leafHash`; and the root of the first `treeSize` leaves against the head's.
 * Lines beyond the head's size are not looked at.
 */
export async function verifyExport (lines: AsyncIterable<string> | Iterable<string>, head: TreeHead, keys: readonly PublicJwk[], proof?: RangeProof): Promise<OfflineResult> {
  const bad = (position: number | null, reason: string): OfflineResult => ({ ok: false, position, reason })
  const problem = headProblem(head, keys)
  if (problem !== null) return bad(null, `the tree head: ${problem}`)
  let range = new CompactRange()
  let end = head.treeSize
  if (proof !== undefined) {
    const { first, last, treeSize } = proof
    const left = rangeNodes(0, first - 1)
    const right = rangeNodes(last, treeSize)
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 1 || last < first || treeSize !== head.treeSize || last > treeSize ||
      proof.left.length !== left.length || proof.right.length !== right.length || ![...proof.left, ...proof.right].every(h => HASH.test(h))) {
      return bad(null, `the range proof does not fit the head of size ${head.treeSize}`)
    }
    const frontier: Buffer[] = []
    left.forEach(({ level }, i) => { frontier[level] = Buffer.from(proof.left[i]!, 'hex') })
    range = new CompactRange(first - 1, frontier)
    end = last
  }
  for await (const line of lines) {
    if (range.size === end) break
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
  if (range.size < end) return bad(range.size + 1, `the log ends at position ${range.size}, before ${proof === undefined ? 'the head\'s size' : 'the range\'s last position'} ${end}`)
  if (proof !== undefined) rangeNodes(proof.last, proof.treeSize).forEach(({ level }, i) => { range.appendSubtree(level, Buffer.from(proof.right[i]!, 'hex')) })
  const root = range.root().toString('hex')
  if (root !== head.rootHash) return bad(null, 'the entries do not make the signed root: an entry or a leafHash was changed, added or removed')
  return { ok: true, treeSize: head.treeSize, rootHash: root }
}
