/** The replicas' pure parts: WAL positions as numbers and back, and a replica's lag from the primary's position samples. */
import fc from 'fast-check'
import t from 'tap'
import { formatLsn, lagMs, parseLsn, type Sample } from '../src/db/replicas.js'

const lsn = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })

t.test('a WAL position reads back as written, and orders as PostgreSQL orders it', async (t) => {
  fc.assert(fc.property(lsn, (n) => parseLsn(formatLsn(n)) === n))
  fc.assert(fc.property(lsn, lsn, (a, b) => (parseLsn(formatLsn(a)) < parseLsn(formatLsn(b))) === (a < b)))
  t.equal(parseLsn('16/B374D848'), 0x16B374D848n)
  t.equal(parseLsn('0/0'), 0n)
  t.throws(() => parseLsn('16B374D848'), /not a WAL position/)
})

/** Samples of the primary's position: times and positions both growing. */
const samples = fc.array(fc.tuple(fc.nat({ max: 1000 }), fc.bigInt({ min: 0n, max: 1n << 20n })), { minLength: 1, maxLength: 30 }).map((steps) => {
  let at = 1_000_000
  let pos = 0n
  return steps.map(([dt, dl]): Sample => { at += dt; pos += dl; return { lsn: pos, at } })
})

t.test('lag: none once the last sample is replayed; never more than the oldest sample\'s age; shrinks as replay advances', async (t) => {
  fc.assert(fc.property(samples, fc.nat({ max: 10_000 }), (s, later) => {
    const now = s.at(-1)!.at + later
    return lagMs(s, s.at(-1)!.lsn, now) === 0
  }))
  fc.assert(fc.property(samples, fc.bigInt({ min: 0n, max: 1n << 26n }), fc.bigInt({ min: 0n, max: 1n << 20n }), fc.nat({ max: 10_000 }), (s, replayed, more, later) => {
    const now = s.at(-1)!.at + later
    const lag = lagMs(s, replayed, now)
    return lag >= 0 && lag <= now - s[0]!.at && lagMs(s, replayed + more, now) <= lag
  }))
  // Idle primary: its position does not move, and a replica that replayed it is not behind, however old the samples.
  t.equal(lagMs([{ lsn: 100n, at: 0 }, { lsn: 100n, at: 5_000 }], 100n, 60_000), 0)
  // Paused replay: behind by the age of the first position it lacks.
  t.equal(lagMs([{ lsn: 100n, at: 0 }, { lsn: 200n, at: 1_000 }, { lsn: 300n, at: 2_000 }], 150n, 2_500), 1_500)
})
