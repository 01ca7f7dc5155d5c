/**
 * How long statistics take as the registry grows: fills a dedicated PostgreSQL database
 * with deterministic demo households spread over 三门峡市, then times the real app
 * (GraphQL through fastify.inject, token and all) at each size.
 *
 *   npm run bench:statistics -- [--sizes 10000,100000,1000000] [--runs 7] [--url postgres://postgres@127.0.0.1:5432/br_bench_stats] [--fresh]
 *
 * The database is kept between runs (generation is the slow part): a later run only
 * adds the households missing up to each size. --fresh drops it first.
 */
import { parseArgs } from 'node:util'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import pg from 'pg'
import { sql } from 'drizzle-orm'
import app, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { generateDemoData } from '../src/db/demo-data.js'
import { openDatabase, queryRows } from '../src/db/index.js'
import { migrateAndSeed } from '../src/infra/migrate.js'
import { mintToken } from '../src/infra/tokens.js'
import { Sealer } from '../src/shared/sealing.js'
import { newSigningKeyPem } from '../src/shared/tree-heads.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    runs: { type: 'string', default: '7' },
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/br_bench_stats' },
    fresh: { type: 'boolean', default: false }
  }
})
const sizes = values.sizes.split(',').map(Number)
const runs = Number(values.runs)
if (sizes.some(n => !Number.isInteger(n) || n < 1) || !Number.isInteger(runs) || runs < 1) { console.error('--sizes: whole numbers, --runs: ≥ 1'); process.exit(2) }

const url = new URL(values.url)
const name = url.pathname.slice(1)
if (!/^[a-z_][a-z0-9_]*$/.test(name)) { console.error('the database name must be a plain identifier'); process.exit(2) }
const admin = new pg.Client({ connectionString: Object.assign(new URL(values.url), { pathname: '/postgres' }).toString() })
await admin.connect()
if (values.fresh) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
if ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 0) await admin.query(`CREATE DATABASE ${name}`)
const version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version
await admin.end()

const secret = 'bench-secret-for-the-beneficiary-registry-statistics'
const dataKey = Buffer.alloc(32, 9).toString('base64')
const config = loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent', DATABASE_URL: values.url, JWT_SECRET: secret, DATA_KEY: dataKey, AUDIT_SIGNING_KEY: newSigningKeyPem() })
const database = await openDatabase(config.database, { error: (o: unknown) => { console.error(o) } })
await migrateAndSeed(database, config)
const db = database.db
const sealer = new Sealer(config.dataKey)

const fastify = Fastify(serverOptions(config))
await fastify.register(fp(app), { config, database })
await fastify.ready()
const token = await mintToken({ secret: new TextEncoder().encode(secret), issuer: config.auth.issuer, audience: config.auth.audience }, { sub: 'bench', role: 'VIEWER', region: '4112' })

const FIELDS = `year households { total poor exited returned closed } persons { total poor } exitedInYear personsExitedInYear
  industryCoverageRate industryStackingDegree employmentRate medicalInsuranceRate dropouts unsafeHousing povertyIncidence
  villages { poor exited } relocation { persons personsInYear } forestRangerPosts microcredit { loans outstanding overdue } causeMeasureMatchRate`
const CASES: Array<{ label: string, query: string }> = [
  { label: 'city 4112, 1 year, breakdown (7 counties)', query: `{ statistics(regionCode: "4112", year: 2019) { ${FIELDS} targets { indicator achieved } breakdown { region { code } ${FIELDS} } } }` },
  { label: 'city 4112, trend 2018–2020, breakdown', query: `{ statisticsTrend(regionCode: "4112", years: [2018, 2019, 2020]) { ${FIELDS} breakdown { region { code } ${FIELDS} } } }` },
  { label: 'county 411224, 1 year, breakdown (20 townships)', query: `{ statistics(regionCode: "411224", year: 2019) { ${FIELDS} breakdown { region { code } ${FIELDS} } } }` },
  { label: 'township 411224101, 1 year, breakdown (villages)', query: `{ statistics(regionCode: "411224101", year: 2019) { ${FIELDS} breakdown { region { code } ${FIELDS} } } }` }
]

async function time (query: string): Promise<number> {
  const start = process.hrtime.bigint()
  const res = await fastify.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${token}` }, payload: { query } })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (res.statusCode !== 200 || res.json().errors !== undefined) throw new Error(res.body)
  return ms
}

const householdsNow = async (): Promise<number> => Number((await queryRows<{ n: string }>(db, sql`SELECT count(*) AS n FROM households WHERE region_code LIKE '4112%'`))[0]!.n)

console.log(`PostgreSQL ${version}, database ${name}; ${runs} timed runs per case after one warm-up; times in ms (median, min, max)`)
for (const size of sizes.sort((a, b) => a - b)) {
  const have = await householdsNow()
  if (have < size) {
    const start = Date.now()
    const counts = await generateDemoData(db, sealer, { households: size - have, region: '4112', seed: size })
    await db.execute(sql`ANALYZE`)
    console.log(`generated ${counts.households} households (${counts.members} members, ${counts.measures} measures) in ${((Date.now() - start) / 1000).toFixed(0)} s`)
  }
  const rows = await queryRows<{ h: string, m: string, me: string }>(db, sql`SELECT (SELECT count(*) FROM households) AS h, (SELECT count(*) FROM members) AS m, (SELECT count(*) FROM measures) AS me`)
  console.log(`\n## ${rows[0]!.h} households, ${rows[0]!.m} members, ${rows[0]!.me} measures`)
  // The first read after a bulk load rebuilds the summary of every village it touched.
  console.log(`first read after loading (rebuilds the summary of every marked village, years 2014–this year): ${(await time(CASES[0]!.query)).toFixed(0)}`)
  for (const c of CASES) {
    await time(c.query)
    const times: number[] = []
    for (let i = 0; i < runs; i++) times.push(await time(c.query))
    times.sort((a, b) => a - b)
    console.log(`${c.label}: ${times[Math.floor(times.length / 2)]!.toFixed(0)} (${times[0]!.toFixed(0)}–${times[times.length - 1]!.toFixed(0)})`)
  }
  // A write marks its village; the next read rebuilds that village only.
  const after: number[] = []
  for (let i = 0; i < runs; i++) {
    await db.execute(sql`UPDATE households SET housing_safe = NOT housing_safe WHERE id = (SELECT id FROM households WHERE region_code LIKE '411224%' ORDER BY id LIMIT 1 OFFSET ${i})`)
    after.push(await time(CASES[0]!.query))
  }
  after.sort((a, b) => a - b)
  console.log(`${CASES[0]!.label}, right after a write to one household: ${after[Math.floor(after.length / 2)]!.toFixed(0)} (${after[0]!.toFixed(0)}–${after[after.length - 1]!.toFixed(0)})`)
}
await fastify.close()
await database.close()
