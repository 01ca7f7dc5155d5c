import fc from 'fast-check'
import t from 'tap'
import { caseArb, check, examples, matrixReport, matrixSeed, newTally, WRITE_OPS, setupMatrix } from './policy-matrix.js'

t.test('every mutation — records, exit steps, regions, targets, poverty lines, work items, import jobs — is allowed exactly when contract §3 allows it, and a refused one changes nothing, for random region trees and users', async (t) => {
  const seed = matrixSeed(t)
  const m = await setupMatrix(t, seed)
  const tally = newTally()
  const cases = examples(WRITE_OPS)
  await fc.assert(fc.asyncProperty(caseArb(WRITE_OPS, m.fixtures.length), async (c) => { await check(m, WRITE_OPS, c, tally) }),
    { seed, numRuns: cases.length + Number(process.env.MATRIX_RUNS ?? 40), endOnFailure: true, examples: cases })
  matrixReport(t, WRITE_OPS, tally)
})
