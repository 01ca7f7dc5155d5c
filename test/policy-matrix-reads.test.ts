import fc from 'fast-check'
import t from 'tap'
import { caseArb, check, examples, matrixReport, matrixSeed, newTally, READ_OPS, setupMatrix } from './policy-matrix.js'

t.test('every read — by id, lists, counts, nested fields, export, change feed, statistics, jobs, eligibility — answers exactly as contract §3 says, for random region trees and users', async (t) => {
  const seed = matrixSeed(t)
  const m = await setupMatrix(t, seed)
  const tally = newTally()
  const cases = examples(READ_OPS)
  await fc.assert(fc.asyncProperty(caseArb(READ_OPS, m.fixtures.length), async (c) => { await check(m, READ_OPS, c, tally) }),
    { seed, numRuns: cases.length + Number(process.env.MATRIX_RUNS ?? 60), endOnFailure: true, examples: cases })
  matrixReport(t, READ_OPS, tally)
})
