/**
 * Instructions per eligibility check, counted by valgrind's callgrind in the server's
 * process — all its threads: the event loop, V8's compilers and garbage collector,
 * libuv's pool. Unlike seconds of CPU, which move by ± 10 % from run to run on these
 * shared 2-core machines, the count barely moves with what else the machine is doing:
 * two builds (BENCH_SERVER_ENTRY) or the service and its raw floor compare to a per cent
 * in one run each.
 *
 *   npm run bench:instructions -- [--candidate ours|floor] [--requests 1000,3000]
 *                                 [--connections 8] [--households 100000]
 *
 * The candidate is started under callgrind twice, sent the first number of checks, then
 * (started afresh) the second, and stopped; the difference of the two counts over the
 * difference of the checks leaves start-up and shutdown out. 100 IDs a check, about 20 %
 * registered, the same checks in every run (on bench:eligibility's br_bench_elig).
 * Under callgrind a server runs about 50 times slower: ≈ 80 s to start, ≈ 50 ms a check.
 * PostgreSQL's backends are not counted. The callgrind files are kept for
 * `callgrind_annotate` (JIT-compiled JavaScript shows as bare addresses).
 */
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { BENCH_DATA_KEY, benchDatabase, benchToken, load, registeredIds, startProcess, startServer, unregisteredId, type BenchServer, type Launch } from './bench-server.js'

const { values } = parseArgs({
  options: {
    candidate: { type: 'string', default: 'ours' },
    requests: { type: 'string', default: '1000,3000' },
    connections: { type: 'string', default: '8' },
    households: { type: 'string', default: '100000' },
    port: { type: 'string', default: '3918' }
  }
})
const [FIRST, SECOND] = values.requests.split(',').map(Number) as [number, number]
if (!(FIRST >= 0 && SECOND > FIRST)) throw new Error('--requests takes two counts, the second larger: e.g. 1000,3000')
if (values.candidate !== 'ours' && values.candidate !== 'floor') throw new Error('--candidate is ours or floor')
const PORT = Number(values.port)

const url = await benchDatabase('br_bench_elig', Number(values.households), false)
// The same checks in every run, so that two runs differ only by the build: every
// registered ID, in order, and a seeded generator (mulberry32) for the choices.
const registered = (await registeredIds(url, 10_000_000)).sort()
let seed = 20261206
function random (min: number, max: number): number {
  seed = (seed + 0x6D2B79F5) | 0
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
  return min + Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * (max - min))
}
const bodies = Array.from({ length: 500 }, () => JSON.stringify({
  nationalIds: Array.from({ length: 100 }, () => (random(0, 5) === 0 ? registered[random(0, registered.length)]! : unregisteredId(random)))
}))
const token = await benchToken({ sub: 'bench-hospital', role: 'EXCHANGE', region: '4112', dept: 'health' })

async function start (launch: Launch): Promise<BenchServer> {
  // Under callgrind the event loop lags far behind: no load shedding.
  if (values.candidate === 'ours') return await startServer(url, PORT, 10, { LOAD_SHED_EVENT_LOOP_DELAY_MS: '0' }, launch)
  return await startProcess(['--import', 'tsx', 'bench/raw-floor.ts'], PORT, { DATABASE_URL: url, PORT: String(PORT), POOL_MAX: '10', DATA_KEY: BENCH_DATA_KEY }, '/readyz', launch)
}

/** The instructions of a server that answered `checks` checks, from start to exit. */
async function instructions (checks: number): Promise<number> {
  const out = join(tmpdir(), `bench-instructions-${values.candidate}-${checks}.callgrind`)
  const server = await start({ wrapper: ['valgrind', '--quiet', '--tool=callgrind', `--callgrind-out-file=${out}`, '--smc-check=all'], readyTimeoutMs: 600_000 })
  try {
    let next = 0
    const result = await load({
      url: `${server.base}${values.candidate === 'ours' ? '/api/v1/eligibility' : '/eligibility'}`,
      connections: Number(values.connections),
      amount: checks,
      timeout: 120,
      requests: [{ method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }) }]
    })
    if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) throw new Error(`${result.non2xx} answers not 2xx, ${result.errors} errors, ${result.timeouts} timeouts`)
  } finally {
    await server.stop()
  }
  const total = /^(?:summary|totals):\s*(\d+)/m.exec(readFileSync(out, 'utf8'))?.[1]
  if (total === undefined) throw new Error(`no total in ${out}`)
  console.log(`  ${values.candidate} after ${checks} checks: ${Number(total).toLocaleString('en')} instructions (${out})`)
  return Number(total)
}

const first = await instructions(FIRST)
const second = await instructions(SECOND)
console.log(`${values.candidate}${process.env.BENCH_SERVER_ENTRY !== undefined && values.candidate === 'ours' ? ` (${process.env.BENCH_SERVER_ENTRY})` : ''}: ` +
  `${((second - first) / (SECOND - FIRST) / 1e6).toFixed(3)} million instructions a check (checks ${FIRST + 1}–${SECOND}, ${values.connections} connections)`)
