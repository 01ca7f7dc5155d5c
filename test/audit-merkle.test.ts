import { createHash } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { CompactRange, consistencyProof, EMPTY_ROOT, frontierNodes, inclusionPath, leafHash, nodeHash, nodesNeeded, rangeNodes, treeRoot, verifyConsistency, verifyInclusion } from '../src/modules/audit/audit-merkle.js'

/** RFC 9162 §2.1.1 MTH, written out as the RFC states it: the oracle. */
function mth (leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest()
  if (leaves.length === 1) return leaves[0]!
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  return createHash('sha256').update(Buffer.of(1)).update(mth(leaves.slice(0, k))).update(mth(leaves.slice(k))).digest()
}

const leaves = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => leafHash({ seq: i + 1 }))

/** Builds the stored nodes as the sequencer does (level 0: the leaves themselves). */
function stored (all: Buffer[]): { tree: CompactRange, get: (level: number, index: number) => Buffer } {
  const nodes = new Map<string, Buffer>()
  const tree = new CompactRange()
  all.forEach((leaf, i) => {
    nodes.set(`0:${i}`, leaf)
    tree.append(leaf, (level, index, hash) => { nodes.set(`${level}:${index}`, hash) })
  })
  return { tree, get: (level, index) => nodes.get(`${level}:${index}`) ?? (() => { throw new Error(`no node ${level}:${index}`) })() }
}

t.test('leaf and node hashes are RFC 9162 §2.1: 0x00 ‖ canonical JSON, 0x01 ‖ left ‖ right', async (t) => {
  t.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  t.equal(leafHash({ b: 1, a: [true, null, 'x'] }).toString('hex'), createHash('sha256').update(Buffer.concat([Buffer.of(0), Buffer.from('{"a":[true,null,"x"],"b":1}')])).digest('hex'), 'keys in RFC 8785 order')
  const a = leafHash(1)
  const b = leafHash(2)
  t.same(nodeHash(a, b), createHash('sha256').update(Buffer.concat([Buffer.of(1), a, b])).digest())
})

t.test('the compact range, the stored nodes and the proofs agree with the RFC for every size', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (n, i, j) => {
    const all = leaves(n)
    const { tree, get } = stored(all)
    const root = mth(all)
    if (!tree.root().equals(root)) return false
    if (!treeRoot(n)(get).equals(root)) return false
    // A tree read back from its frontier goes on as the one that never stopped.
    const frontier: Buffer[] = []
    for (const { level, index } of frontierNodes(n)) frontier[level] = get(level, index)
    const resumed = new CompactRange(n, frontier)
    resumed.append(leafHash('next'))
    if (!resumed.root().equals(mth([...all, leafHash('next')]))) return false
    // Inclusion of leaf m in the tree of size s ≤ n, from the stored nodes only.
    const s = 1 + (i % n)
    const m = j % s
    const path = inclusionPath(m, s)(get)
    if (!verifyInclusion(m, s, all[m]!, path, mth(all.slice(0, s)))) return false
    // A proof reads O(log n) nodes.
    if (nodesNeeded(inclusionPath(m, s)).length > 2 * Math.ceil(Math.log2(s + 1)) + 1) return false
    // Consistency of the tree of size f with that of size s.
    const f = 1 + (j % s)
    const proof = consistencyProof(f, s)(get)
    return verifyConsistency(f, s, proof, mth(all.slice(0, f)), mth(all.slice(0, s)))
  }), { numRuns: 300 })
})

t.test('proofs fail for another leaf, another position, another root or a changed path', async (t) => {
  const all = leaves(13)
  const { get } = stored(all)
  const root = mth(all)
  const path = inclusionPath(5, 13)(get)
  t.ok(verifyInclusion(5, 13, all[5]!, path, root))
  t.notOk(verifyInclusion(5, 13, all[6]!, path, root), 'another leaf')
  t.notOk(verifyInclusion(6, 13, all[5]!, path, root), 'another position')
  t.notOk(verifyInclusion(5, 13, all[5]!, path, mth(all.slice(0, 12))), 'another root')
  t.notOk(verifyInclusion(5, 13, all[5]!, [...path.slice(0, -1), leafHash('x')], root), 'a changed path')
  t.notOk(verifyInclusion(13, 13, all[5]!, path, root), 'a position beyond the tree')
  const proof = consistencyProof(6, 13)(get)
  t.ok(verifyConsistency(6, 13, proof, mth(all.slice(0, 6)), root))
  t.notOk(verifyConsistency(6, 13, proof, mth([...all.slice(0, 5), leafHash('forged')]), root), 'a rewritten history')
  t.notOk(verifyConsistency(6, 13, [], mth(all.slice(0, 6)), root), 'an empty proof')
  t.ok(verifyConsistency(13, 13, [], root, root), 'a tree is consistent with itself')
})

t.test('a range proof (the subtrees left and right of positions first..last) makes the root of the whole tree from the range\'s leaves', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), fc.nat(), (n, a, b, c) => {
    const all = leaves(n)
    const { get } = stored(all)
    const [first, last] = [1 + (a % n), 1 + (b % n)].sort((x, y) => x - y) as [number, number]
    t.same(rangeNodes(0, n), frontierNodes(n), 'from 0 it is the tree\'s own decomposition')
    const left = rangeNodes(0, first - 1)
    const frontier: Buffer[] = []
    for (const { level, index } of left) frontier[level] = get(level, index)
    const range = new CompactRange(first - 1, frontier)
    for (let i = first - 1; i < last; i++) range.append(all[i]!)
    for (const { level, index } of rangeNodes(last, n)) range.appendSubtree(level, get(level, index))
    if (!range.root().equals(mth(all)) || range.size !== n) return false
    // Any altered leaf in the range changes the root.
    const altered = new CompactRange(first - 1, frontier)
    const bad = first - 1 + (c % (last - first + 1))
    for (let i = first - 1; i < last; i++) altered.append(i === bad ? leafHash({ forged: i }) : all[i]!)
    for (const { level, index } of rangeNodes(last, n)) altered.appendSubtree(level, get(level, index))
    return !altered.root().equals(mth(all))
  }), { numRuns: 300 })
  t.throws(() => { new CompactRange(3).appendSubtree(1, Buffer.alloc(32)) }, /cannot follow/)
})
