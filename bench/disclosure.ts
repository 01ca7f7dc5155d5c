/**
 * How long a county's public disclosure (公告公示) takes: fills a dedicated PostgreSQL
 * database with a county of demo households and N projects (default 1,000) spread over
 * the county, its townships and its villages — three allocations each, up to five
 * beneficiary households each and a payment to each — then times the real app
 * (GET /api/v1/disclosures/funds through fastify.inject, token and all, the whole body
 * read) for each format, at the county, one township and one village.
 *
 *   npm run bench:disclosure -- [--projects 1000] [--households 3000] [--runs 9] [--url postgres://postgres@127.0.0.1:5432/br_bench_disclosure]
 *
 * The database is dropped and filled anew on each run. The machine's load average is
 * printed before and after (the machine may be shared): read the times with it.
 */
import { loadavg } from 'node:os'
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
    projects: { type: 'string', default: '1000' },
    households: { type: 'string', default: '3000' },
    runs: { type: 'string', default: '9' },
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/br_bench_disclosure' }
  }
})
const projects = Number(values.projects)
const householdCount = Number(values.households)
const runs = Number(values.runs)
if (![projects, householdCount, runs].every(n => Number.isInteger(n) && n >= 1)) { console.error('--projects, --households, --runs: whole numbers ≥ 1'); process.exit(2) }
const COUNTY = '411224'
const YEAR = 2019

const url = new URL(values.url)
const name = url.pathname.slice(1)
if (!/^[a-z_][a-z0-9_]*$/.test(name)) { console.error('the database name must be a plain identifier'); process.exit(2) }
const admin = new pg.Client({ connectionString: Object.assign(new URL(values.url), { pathname: '/postgres' }).toString() })
await admin.connect()
await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
await admin.query(`CREATE DATABASE ${name}`)
const version = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version
await admin.end()

const secret = 'bench-secret-for-the-beneficiary-registry-disclosure'
const config = loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent', DATABASE_URL: values.url, JWT_SECRET: secret, DATA_KEY: Buffer.alloc(32, 9).toString('base64'), AUDIT_SIGNING_KEY: newSigningKeyPem() })
const database = await openDatabase(config.database, { error: (o: unknown) => { console.error(o) } })
await migrateAndSeed(database, config)
const db = database.db

const started = Date.now()
await generateDemoData(db, new Sealer(config.dataKey), { households: householdCount, region: COUNTY, seed: 20_191_001 })
// Projects over the county (one in ten), its townships and its villages, in code order.
const regions = (await queryRows<{ code: string }>(db, sql`SELECT code FROM regions WHERE code LIKE ${COUNTY + '_%'} AND level IN ('TOWNSHIP', 'VILLAGE') ORDER BY code`)).map(r => r.code)
await db.execute(sql`
  INSERT INTO projects (code, name, category, region_code, status, planned_start, budget)
  SELECT ${COUNTY} || '-' || ${YEAR} || '-' || lpad(i::text, 4, '0'), '扶贫项目第' || i || '号（产业基地、就业车间及配套设施建设）',
    (ARRAY['INDUSTRY', 'EMPLOYMENT', 'RELOCATION', 'EDUCATION', 'HOUSING'])[1 + i % 5],
    CASE WHEN i % 10 = 0 THEN ${COUNTY} ELSE (${JSON.stringify(regions)}::jsonb ->> (i % ${regions.length})) END,
    'IN_PROGRESS', make_date(${YEAR}, 1 + i % 12, 1), 1000000
  FROM generate_series(1, ${projects}) AS i`)
await db.execute(sql`
  INSERT INTO fund_allocations (project_id, region_code, source, amount, document_no, date)
  SELECT p.id, p.region_code, s.source, s.amount, '卢财预〔' || ${YEAR} || '〕' || s.n || '号', make_date(${YEAR}, 2, s.n)
  FROM projects p CROSS JOIN (VALUES ('CENTRAL', 120000.00, 1), ('PROVINCE', 45000.50, 2), ('INTEGRATED', 30000.25, 3)) AS s(source, amount, n)`)
await db.execute(sql`
  INSERT INTO project_beneficiaries (project_id, household_id, region_code)
  SELECT p.id, h.id, p.region_code FROM projects p
  CROSS JOIN LATERAL (SELECT id FROM households h WHERE h.region_code LIKE p.region_code || '%' ORDER BY h.id LIMIT 5) h`)
await db.execute(sql`
  INSERT INTO fund_payments (project_id, region_code, household_id, household_region_code, amount, date, reference)
  SELECT b.project_id, b.region_code, b.household_id, h.region_code, 1500.00, make_date(${YEAR}, 5, 1), 'bench-' || b.household_id
  FROM project_beneficiaries b JOIN households h ON h.id = b.household_id`)
await db.execute(sql`UPDATE projects p SET allocated = (SELECT sum(amount) FROM fund_allocations a WHERE a.project_id = p.id),
  paid = coalesce((SELECT sum(amount) FROM fund_payments f WHERE f.project_id = p.id), 0)`)
await db.execute(sql`ANALYZE`)
const [counts] = await queryRows<{ p: number, a: number, b: number, f: number, h: number }>(db, sql`SELECT (SELECT count(*)::int FROM projects) AS p, (SELECT count(*)::int FROM fund_allocations) AS a,
  (SELECT count(*)::int FROM project_beneficiaries) AS b, (SELECT count(*)::int FROM fund_payments) AS f, (SELECT count(*)::int FROM households) AS h`)
const township = (await queryRows<{ code: string }>(db, sql`SELECT region_code AS code FROM projects WHERE length(region_code) = 9 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`))[0]!.code
const village = (await queryRows<{ code: string }>(db, sql`SELECT household_region_code AS code FROM fund_payments GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`))[0]!.code

const fastify = Fastify(serverOptions(config))
await fastify.register(fp(app), { config, database })
await fastify.ready()
const token = await mintToken({ secret: new TextEncoder().encode(secret), issuer: config.auth.issuer, audience: config.auth.audience }, { sub: 'bench', role: 'VIEWER', region: COUNTY })

async function time (region: string, format: string): Promise<{ ms: number, bytes: number }> {
  const start = process.hrtime.bigint()
  const res = await fastify.inject({ method: 'GET', url: `/api/v1/disclosures/funds?region=${region}&year=${YEAR}&format=${format}`, headers: { authorization: `Bearer ${token}` } })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (res.statusCode !== 200) throw new Error(res.body)
  return { ms, bytes: res.rawPayload.length }
}

const load = (): string => loadavg().map(n => n.toFixed(2)).join(' ')
console.log(`PostgreSQL ${version}, database ${name}; filled in ${((Date.now() - started) / 1000).toFixed(0)} s: ${counts!.h} households, ${counts!.p} projects, ${counts!.a} allocations, ${counts!.b} beneficiary links, ${counts!.f} payments`)
console.log(`load average before: ${load()} (1, 5, 15 min); ${runs} timed runs per case after one warm-up; ms (median, min–max)`)
for (const [label, region] of [[`county ${COUNTY}`, COUNTY], [`township ${township}`, township], [`village ${village}`, village]] as const) {
  for (const format of ['json', 'csv', 'html']) {
    await time(region, format)
    const results: Array<{ ms: number, bytes: number }> = []
    for (let i = 0; i < runs; i++) results.push(await time(region, format))
    const ms = results.map(r => r.ms).sort((a, b) => a - b)
    console.log(`${label} ${format}: ${ms[Math.floor(ms.length / 2)]!.toFixed(0)} (${ms[0]!.toFixed(0)}–${ms[ms.length - 1]!.toFixed(0)}), ${(results[0]!.bytes / 1024).toFixed(0)} KiB`)
  }
}
console.log(`load average after: ${load()}`)
await fastify.close()
await database.close()
const cleanup = new pg.Client({ connectionString: Object.assign(new URL(values.url), { pathname: '/postgres' }).toString() })
await cleanup.connect()
await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
await cleanup.end()
