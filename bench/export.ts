/**
 * Export benchmark: GET /api/v1/households/export of the whole city (ADMIN at 4112) and
 * of one county, read to the end as fast as the client takes it, against the service on
 * 127.0.0.1 over the machine's PostgreSQL (br_bench_elig, as bench/eligibility.ts fills
 * it). Reports households/s, MB/s and the server's peak resident memory during each
 * export, next to its resident memory before: flat memory whatever the region's size.
 *
 *   npm run bench:export -- [--households 100000] [--fresh]
 */
import { parseArgs } from 'node:util'
import { benchDatabase, benchToken, startServer } from './bench-server.js'

const { values } = parseArgs({
  options: {
    households: { type: 'string', default: '100000' },
    port: { type: 'string', default: '3918' },
    fresh: { type: 'boolean', default: false }
  }
})

const url = await benchDatabase('br_bench_elig', Number(values.households), values.fresh)
const token = await benchToken({ sub: 'bench-sync', role: 'ADMIN', region: '4112' })
const server = await startServer(url, Number(values.port), 10)
try {
  for (const region of ['411224', '4112', '411224']) {
    const before = server.rssKiB()
    let peak = before
    const sampler = setInterval(() => { peak = Math.max(peak, server.rssKiB()) }, 50)
    const started = performance.now()
    const res = await fetch(`${server.base}/api/v1/households/export?region=${region}`, { headers: { authorization: `Bearer ${token}` } })
    if (!res.ok || res.body === null) throw new Error(`export answered ${res.status}`)
    let bytes = 0
    let lines = 0
    for await (const chunk of res.body) {
      bytes += chunk.length
      for (const b of chunk) if (b === 10) lines++
    }
    clearInterval(sampler)
    const seconds = (performance.now() - started) / 1000
    console.log(`region ${region}: ${lines} households, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s ` +
      `(${(lines / seconds).toFixed(0)} households/s, ${(bytes / 1e6 / seconds).toFixed(1)} MB/s); ` +
      `server RSS ${(before / 1024).toFixed(0)} MB before, peak ${(peak / 1024).toFixed(0)} MB`)
  }
} finally {
  await server.stop()
}
