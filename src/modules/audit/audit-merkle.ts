import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'

/**
 * The Merkle tree of RFC 9162 §2.1 over the audit log: pure functions, shared by the
 * sequencer, the proofs, the verification and the offline verifier.
 *
 *  - leaf = SHA-256(0x00 ‖ RFC 8785 canonical JSON of the exported entry, less `leafHash`)
 *  - node = SHA-256(0x01 ‖ left ‖ right); the tree of n leaves splits at the largest
 *    power of two below n.
 *
 * Leaves are numbered from 0 here (leaf i is the entry at `seq` i + 1).
 */

export const EMPTY_ROOT = createHash('sha256').digest()

export function leafHash (entry: unknown): Buffer {
  return createHash('sha256').update(Buffer.of(0)).update(canonicalize(entry) ?? '').digest()
}

export function nodeHash (left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(Buffer.of(1)).update(left).update(right).digest()
}

/** Exact for every size up to 2^53 (bitwise operators stop at 2^31). */
function isPowerOfTwo (n: number): boolean {
  if (n < 1) return false
  while (n % 2 === 0) n /= 2
  return n === 1
}

/** The largest power of two strictly below n (n ≥ 2). */
function split (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * The complete subtrees along the right edge of a growing tree (at most one per level):
 * appending a leaf combines equal-sized neighbours, as a binary counter carries. It
 * reports each complete node it makes, so the sequencer can store them.
 */
export class CompactRange {
  /** `frontier[level]`: the last complete subtree of 2^level leaves still waiting for its right sibling. */
  private readonly frontier: Buffer[] = []

  constructor (private count = 0, frontier: ReadonlyArray<Buffer | undefined> = []) {
    frontier.forEach((h, level) => { if (h !== undefined) this.frontier[level] = h })
  }

  get size (): number { return this.count }

  clone (): CompactRange {
    return new CompactRange(this.count, this.frontier)
  }

  /** Appends a leaf; `onNode(level, index, hash)` sees every complete node above the leaves it completes. */
  append (leaf: Buffer, onNode?: (level: number, index: number, hash: Buffer) => void): void {
    let h = leaf
    let level = 0
    let index = this.count
    while (index % 2 === 1) {
      h = nodeHash(this.frontier[level]!, h)
      level++
      index = (index - 1) / 2
      onNode?.(level, index, h)
    }
    this.frontier[level] = h
    this.count++
  }

  /**
   * Appends a complete subtree of 2^level leaves (its hash), which must start where the
   * range ends and be aligned (the range's size a multiple of 2^level): how a range proof
   * joins the subtrees right of an archived month.
   */
  appendSubtree (level: number, hash: Buffer): void {
    const width = 2 ** level
    if (this.count % width !== 0) throw new Error(`a subtree of ${width} leaves cannot follow ${this.count} leaves`)
    let h = hash
    let l = level
    let index = this.count / width
    while (index % 2 === 1) {
      h = nodeHash(this.frontier[l]!, h)
      l++
      index = (index - 1) / 2
    }
    this.frontier[l] = h
    this.count += width
  }

  /** The root hash of the leaves appended so far. */
  root (): Buffer {
    let root: Buffer | null = null
    for (let level = 0, n = this.count; n > 0; level++, n = Math.floor(n / 2)) {
      if (n % 2 === 1) root = root === null ? this.frontier[level]! : nodeHash(this.frontier[level]!, root)
    }
    return root ?? EMPTY_ROOT
  }
}

/** The complete subtrees (level, index) that a tree of `size` leaves decomposes into, left to right. */
export function frontierNodes (size: number): Array<{ level: number, index: number }> {
  const out: Array<{ level: number, index: number }> = []
  let offset = 0
  for (let level = 52; level >= 0; level--) {
    const width = 2 ** level
    if (size - offset >= width) {
      out.push({ level, index: offset / width })
      offset += width
    }
  }
  return out
}

/**
 * The complete subtrees that cover leaves [from, to), left to right, each as large as its
 * alignment allows: with `from` = 0 the tree's own decomposition; as the proof of a range
 * of positions, those of [0, first − 1) and [last, treeSize).
 */
export function rangeNodes (from: number, to: number): Array<{ level: number, index: number }> {
  const out: Array<{ level: number, index: number }> = []
  let offset = from
  while (offset < to) {
    let level = 0
    while (offset % 2 ** (level + 1) === 0 && offset + 2 ** (level + 1) <= to) level++
    out.push({ level, index: offset / 2 ** level })
    offset += 2 ** level
  }
  return out
}

/** Reads a stored complete subtree's hash: level 0 is a leaf. */
export type NodeReader = (level: number, index: number) => Buffer

/** MTH(D[a:b]) for a range that the RFC's recursion can ask for: made of aligned complete subtrees. */
function rangeHash (a: number, b: number, get: NodeReader): Buffer {
  const n = b - a
  if (isPowerOfTwo(n) && a % n === 0) return get(Math.log2(n), a / n)
  const k = split(n)
  return nodeHash(rangeHash(a, a + k, get), rangeHash(a + k, b, get))
}

/** RFC 9162 §2.1.3.1 PATH(m, D[a:b]): the audit path of leaf m, leaf-side first. */
function path (m: number, a: number, b: number, get: NodeReader): Buffer[] {
  if (b - a === 1) return []
  const k = split(b - a)
  return m < a + k
    ? [...path(m, a, a + k, get), rangeHash(a + k, b, get)]
    : [...path(m, a + k, b, get), rangeHash(a, a + k, get)]
}

/** RFC 9162 §2.1.4.1 SUBPROOF(m, D[a:b], flag). */
function subproof (m: number, a: number, b: number, flag: boolean, get: NodeReader): Buffer[] {
  if (m === b) return flag ? [] : [rangeHash(a, b, get)]
  const k = split(b - a)
  return m <= a + k
    ? [...subproof(m, a, a + k, flag, get), rangeHash(a + k, b, get)]
    : [...subproof(m, a + k, b, false, get), rangeHash(a, a + k, get)]
}

/**
 * The stored nodes a proof needs, then the proof: the recursion depends only on the
 * sizes, so a first pass with a recording reader lists the nodes (O(log n) of them),
 * the caller fetches them at once, and a second pass computes the proof.
 */
export function nodesNeeded (proof: (get: NodeReader) => unknown): Array<{ level: number, index: number }> {
  const seen = new Map<string, { level: number, index: number }>()
  const placeholder = Buffer.alloc(32)
  proof((level, index) => { seen.set(`${level}:${index}`, { level, index }); return placeholder })
  return [...seen.values()]
}

export const inclusionPath = (leafIndex: number, size: number) => (get: NodeReader): Buffer[] => path(leafIndex, 0, size, get)
export const consistencyProof = (first: number, second: number) => (get: NodeReader): Buffer[] => first === second ? [] : subproof(first, 0, second, true, get)
export const treeRoot = (size: number) => (get: NodeReader): Buffer => size === 0 ? EMPTY_ROOT : rangeHash(0, size, get)

/** RFC 9162 §2.1.3.2: does `path` prove leaf `leafIndex` (hash `leaf`) in the tree of `size` leaves with `root`? */
export function verifyInclusion (leafIndex: number, size: number, leaf: Buffer, proof: readonly Buffer[], root: Buffer): boolean {
  if (leafIndex >= size) return false
  let fn = leafIndex
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && r.equals(root)
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree of `first` leaves (root1) is a prefix of that of `second` (root2)? */
export function verifyConsistency (first: number, second: number, proof: readonly Buffer[], root1: Buffer, root2: Buffer): boolean {
  if (first > second || first === 0) return false
  if (first === second) return proof.length === 0 && root1.equals(root2)
  if (proof.length === 0) return false
  const path = isPowerOfTwo(first) ? [root1, ...proof] : [...proof]
  let fn = first - 1
  let sn = second - 1
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
  let fr = path[0]!
  let sr = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return fr.equals(root1) && sr.equals(root2) && sn === 0
}
