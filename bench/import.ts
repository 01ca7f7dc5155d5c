/**
 * Import benchmark (issue 5): a 1,000,000-row hr.employment file imported as a job by the
 * service, against a registry of 100,000 households on the machine's PostgreSQL,
 * compared with a plain COPY of the same rows into a staging table.
 *
 *   npm run bench:import -- [--rows 1000000] [--households 100000] [--batch 1000]
 *
 * Uses database br_bench_import on BENCH_DATABASE_URL's server (default the machine's
 * PostgreSQL), filled once with the demo-data generator and reused (bench-server.ts).
 * Reports rows/s, the server's peak RSS and its RSS over time, and the ratio to COPY.
 * BENCH_NODE_ARGS='--cpu-prof' profiles the server.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { nationalIdCheckDigit } from '../src/shared/national-id.js'
import { benchDatabase, benchToken, registeredIds, startServer } from './bench-server.js'

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, households: { type: 'string', default: '100000' }, batch: { type: 'string', default: '1000' }, port: { type: 'string', default: '3917' } } })
const ROWS = Number(values.rows)

/** The same rows as NDJSON and CSV: 40 % of rows registered members (while there are any), the rest unregistered persons, 5 % with a bad check digit. */
async function writeFiles (dir: string, registered: string[]): Promise<{ ndjson: string, csv: string }> {
  const ndjson = createWriteStream(join(dir, 'rows.ndjson'))
  const csv = createWriteStream(join(dir, 'rows.csv'))
  csv.write('national_id,employment,months,monthly_income\n')
  const employment = ['LOCAL', 'MIGRANT', 'PUBLIC_WELFARE_POST', 'SELF_EMPLOYED', 'UNEMPLOYED']
  let r = 0
  for (let i = 0; i < ROWS; i++) {
    const k = i % 20
    let id: string
    if (k < 8 && r < registered.length) id = registered[r++]!
    else {
      const first17 = '110101' + String(19500101 + (i % 28) + 100 * (1 + (i % 12)) + 10000 * (i % 50)) + String(i % 1000).padStart(3, '0')
      id = first17 + (k === 19 ? (nationalIdCheckDigit(first17) === '1' ? '2' : '1') : nationalIdCheckDigit(first17))
    }
    const row = [id, employment[i % 5]!, (i % 12) + 1, (i % 4000) + 500]
    const a = ndjson.write(`{"national_id":"${row[0]}","employment":"${row[1]}","months":${row[2]},"monthly_income":${row[3]}}\n`)
    const b = csv.write(row.join(',') + '\n')
    if (!a) await once(ndjson, 'drain')
    if (!b) await once(csv, 'drain')
  }
  ndjson.end(); csv.end()
  await Promise.all([once(ndjson, 'finish'), once(csv, 'finish')])
  return { ndjson: join(dir, 'rows.ndjson'), csv: join(dir, 'rows.csv') }
}

async function copyBaseline (url: string, file: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query('DROP TABLE IF EXISTS bench_staging')
  await client.query('CREATE TABLE bench_staging (national_id text, employment text, months int, monthly_income numeric)')
  const t0 = performance.now()
  await pipeline(createReadStream(file), client.query(copyFrom('COPY bench_staging FROM STDIN (FORMAT csv, HEADER true)')))
  const seconds = (performance.now() - t0) / 1000
  await client.query('DROP TABLE bench_staging')
  await client.end()
  return seconds
}

async function serviceImport (url: string, file: string): Promise<{ seconds: number, uploadSeconds: number, peakMiB: number, samples: number[], counts: unknown }> {
  const server = await startServer(url, Number(values.port), 10, { IMPORT_BATCH_ROWS: values.batch! })
  try {
    const headers = { authorization: `Bearer ${await benchToken({ sub: 'bench-hr', role: 'EXCHANGE', dept: 'hr', region: '4112' })}` }
    const samples: number[] = []
    const sampler = setInterval(() => { samples.push(Math.round(server.rssKiB() / 1024)) }, 1000)
    const t0 = performance.now()
    const res = await fetch(`${server.base}/api/v1/exchange/jobs?kind=hr.employment`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-ndjson' },
      body: createReadStream(file) as unknown as ReadableStream,
      duplex: 'half'
    } as RequestInit)
    const job = await res.json() as { id: string }
    const uploadSeconds = (performance.now() - t0) / 1000
    let state: { status: string, counts: unknown }
    for (;;) {
      state = await (await fetch(`${server.base}/api/v1/exchange/jobs/${job.id}`, { headers })).json() as typeof state
      if (state.status === 'succeeded' || state.status === 'failed') break
      await sleep(200)
    }
    const seconds = (performance.now() - t0) / 1000
    clearInterval(sampler)
    if (state.status !== 'succeeded') throw new Error(`the job ${state.status}`)
    return { seconds, uploadSeconds, peakMiB: Math.round(server.peakRssKiB() / 1024), samples, counts: state.counts }
  } finally {
    await server.stop()
  }
}

const url = await benchDatabase('br_bench_import', Number(values.households), false)
const registered = await registeredIds(url, 10_000_000)
const dir = mkdtempSync(join(tmpdir(), 'br-bench-import-'))
try {
  const files = await writeFiles(dir, registered)
  console.log(`file: ${ROWS} rows, ${(statSync(files.ndjson).size / 1048576).toFixed(0)} MiB NDJSON; registry: ${registered.length} active members`)
  const copySeconds = await copyBaseline(url, files.csv)
  const ours = await serviceImport(url, files.ndjson)
  const copyRate = ROWS / copySeconds
  const ourRate = ROWS / ours.seconds
  console.log(JSON.stringify({ rows: ROWS, counts: ours.counts, copySeconds: +copySeconds.toFixed(2), copyRowsPerSecond: Math.round(copyRate), ourSeconds: +ours.seconds.toFixed(1), uploadSeconds: +ours.uploadSeconds.toFixed(1), ourRowsPerSecond: Math.round(ourRate), ratioToCopy: +(ourRate / copyRate).toFixed(3), peakRssMiB: ours.peakMiB, rssSamplesMiB: ours.samples }, null, 2))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
