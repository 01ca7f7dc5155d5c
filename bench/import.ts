/**
 * Import benchmark (issue 5): a 1,000,000-row hr.employment file imported as a job by the
 * service, against a registry of 100,000 households on the machine's PostgreSQL,
 * compared with a plain COPY of the same rows into a staging table, and with a
 * set-based floor doing the job's work in SQL (issue 18): COPY into a staging table with
 * the keyed hashes computed by the client, one UPDATE … FROM staging of the matched
 * members, one INSERT … SELECT of their audit entries (into a copy of audit_events that
 * no sequencer reads), in one transaction.
 *
 *   npm run bench:import -- [--rows 1000000] [--households 100000] [--batch 1000]
 *
 * Uses database br_bench_import on BENCH_DATABASE_URL's server (default the machine's
 * PostgreSQL), filled once with the demo-data generator and reused (bench-server.ts).
 * Reports rows/s, the server's peak RSS and its RSS over time, and the ratio to COPY.
 * BENCH_NODE_ARGS='--cpu-prof' profiles the server.
 */
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'
import { benchDatabase, benchToken, registeredIds, sealer, startServer, submitImportJob, waitForJob, writeEmploymentRows } from './bench-server.js'

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, households: { type: 'string', default: '100000' }, batch: { type: 'string', default: '1000' }, port: { type: 'string', default: '3917' } } })
const ROWS = Number(values.rows)

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

/** The job's work done set-based in SQL (no validation, no per-row errors, no resume point): the floor the import is measured against. */
async function setBasedFloor (url: string, file: string): Promise<{ seconds: number, applied: number }> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('CREATE TABLE IF NOT EXISTS bench_floor_audit (LIKE audit_events INCLUDING DEFAULTS INCLUDING INDEXES)')
    const t0 = performance.now()
    await client.query('BEGIN')
    await client.query('CREATE TEMP TABLE staging (line int, hash text, employment text, months int, monthly_income numeric) ON COMMIT DROP')
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
    const rows = Readable.from((async function * () {
      let n = 0
      for await (const line of lines) {
        if (n++ === 0) continue // the header
        const [id, employment, months, income] = line.split(',')
        yield `${n},${sealer.lookupHash(id!.toUpperCase())},${employment},${months},${income}\n`
      }
    })())
    await pipeline(rows, client.query(copyFrom('COPY staging FROM STDIN (FORMAT csv)')))
    // The last row of each person wins, as applying the file in order would leave it.
    await client.query('CREATE INDEX ON staging (hash, line)')
    const updated = await client.query(`WITH last AS (SELECT DISTINCT ON (hash) * FROM staging ORDER BY hash, line DESC)
      UPDATE members m SET employment = s.employment, employment_months = s.months, monthly_income = s.monthly_income, version = m.version + 1, updated_at = now()
      FROM last s WHERE m.national_id_hash = s.hash AND m.active AND m.region_code LIKE '4112%'`)
    await client.query(`INSERT INTO bench_floor_audit (at, actor_sub, actor_role, action, entity, entity_id, region_code, source, before, after)
      SELECT now(), 'bench-hr', 'EXCHANGE', 'exchange.hr.employment', 'Member', m.id, m.region_code, 'bench-floor', NULL,
        jsonb_build_object('employment', s.employment, 'employmentMonths', s.months, 'monthlyIncome', s.monthly_income)
      FROM staging s JOIN members m ON m.national_id_hash = s.hash AND m.active AND m.region_code LIKE '4112%'`)
    await client.query('COMMIT')
    return { seconds: (performance.now() - t0) / 1000, applied: updated.rowCount ?? 0 }
  } finally {
    await client.end()
  }
}

async function serviceImport (url: string, file: string): Promise<{ seconds: number, uploadSeconds: number, peakMiB: number, samples: number[], counts: unknown }> {
  const server = await startServer(url, Number(values.port), 10, { IMPORT_BATCH_ROWS: values.batch! })
  try {
    const token = await benchToken({ sub: 'bench-hr', role: 'EXCHANGE', dept: 'hr', region: '4112' })
    const samples: number[] = []
    const sampler = setInterval(() => { samples.push(Math.round(server.rssKiB() / 1024)) }, 1000)
    const t0 = performance.now()
    const job = await submitImportJob(server.base, token, 'hr.employment', file)
    const uploadSeconds = (performance.now() - t0) / 1000
    const state = await waitForJob(server.base, token, job)
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
  const files = await writeEmploymentRows(dir, ROWS, registered)
  console.log(`file: ${ROWS} rows, ${(statSync(files.ndjson).size / 1048576).toFixed(0)} MiB NDJSON; registry: ${registered.length} active members`)
  const copySeconds = await copyBaseline(url, files.csv)
  const floor = await setBasedFloor(url, files.csv)
  const ours = await serviceImport(url, files.ndjson)
  const copyRate = ROWS / copySeconds
  const floorRate = ROWS / floor.seconds
  const ourRate = ROWS / ours.seconds
  console.log(JSON.stringify({
    rows: ROWS, counts: ours.counts, copySeconds: +copySeconds.toFixed(2), copyRowsPerSecond: Math.round(copyRate),
    setBasedFloorSeconds: +floor.seconds.toFixed(2), setBasedFloorRowsPerSecond: Math.round(floorRate), setBasedFloorApplied: floor.applied,
    ourSeconds: +ours.seconds.toFixed(1), uploadSeconds: +ours.uploadSeconds.toFixed(1), ourRowsPerSecond: Math.round(ourRate),
    ratioToSetBasedFloor: +(ourRate / floorRate).toFixed(3), ratioToCopy: +(ourRate / copyRate).toFixed(3), peakRssMiB: ours.peakMiB, rssSamplesMiB: ours.samples
  }, null, 2))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
