/**
 * The raw floor of `npm run bench`: a minimal Fastify + pg server whose two routes answer
 * the reads of bench/read-shapes.ts with the JSON built by one hand-written SQL statement
 * each (no authentication, no area rule, no masking, no GraphQL): what the hardware and
 * PostgreSQL allow for these reads from Node.
 *
 *   DATABASE_URL=… PORT=3931 POOL_MAX=10 node --import tsx bench/raw-floor.ts
 *
 *   GET /household/:id        → { data: { household } }
 *   GET /households?region=R  → { data: { households: { nodes, pageInfo: { hasNextPage } } } }
 *   POST /member/:id[?lock=1] { employmentMonths } → the member's UPDATE and one audit
 *                             entry's INSERT in one transaction (with lock=1 holding one
 *                             global advisory lock to commit, as the old audit chain did),
 *                             into bench_floor_audit (a copy of audit_events made by
 *                             bench/writes.ts, which no sequencer reads)
 *   POST /eligibility { nationalIds } → { results } in the order asked: the same keyed
 *                             hashes (DATA_KEY) and one lookup as the service's, nothing else
 */
import Fastify from 'fastify'
import pg from 'pg'
import { Sealer } from '../src/shared/sealing.js'
import { column, HOUSEHOLD_FIELDS, INCOME_FIELDS, MEASURE_FIELDS, MEMBER_FIELDS, PAGE_SIZE } from './read-shapes.js'

const object = (alias: string, fields: string[]): string => fields.map(k => `'${k}', ${alias}.${column(k)}`).join(', ')
const list = (alias: string, table: string, fields: string[], where: string, order: string): string =>
  `COALESCE((SELECT json_agg(json_build_object(${object(alias, fields)}) ORDER BY ${order}) FROM ${table} ${alias} WHERE ${alias}.household_id = h.id${where}), '[]')`
const members = list('m', 'members', MEMBER_FIELDS, ' AND m.active', `m.relation <> 'HEAD', m.birth_date, m.id`)
const measures = list('x', 'measures', MEASURE_FIELDS, '', 'x.start_date, x.id')
const incomes = list('i', 'incomes', INCOME_FIELDS, '', 'i.year DESC')

const HOUSEHOLD = `SELECT json_build_object('data', json_build_object('household',
  (SELECT json_build_object(${object('h', HOUSEHOLD_FIELDS)}, 'members', ${members}, 'measures', ${measures}) FROM households h WHERE h.id = $1)))::text AS body`

const PAGE = `WITH page AS (SELECT * FROM households WHERE region_code LIKE $1 ORDER BY id LIMIT ${PAGE_SIZE + 1})
SELECT json_build_object('data', json_build_object('households', json_build_object(
  'nodes', COALESCE((SELECT json_agg(json_build_object(${object('h', HOUSEHOLD_FIELDS)}, 'members', ${members}, 'measures', ${measures}, 'incomes', ${incomes}) ORDER BY h.id)
    FROM (SELECT * FROM page ORDER BY id LIMIT ${PAGE_SIZE}) h), '[]'),
  'pageInfo', json_build_object('hasNextPage', (SELECT count(*) FROM page) > ${PAGE_SIZE}))))::text AS body`

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_MAX ?? 10), idleTimeoutMillis: 30_000 })
const app = Fastify()
app.get<{ Params: { id: string } }>('/household/:id', async (req, reply) => {
  const { rows } = await pool.query<{ body: string }>(HOUSEHOLD, [req.params.id])
  return await reply.type('application/json').send(rows[0]!.body)
})
app.get<{ Querystring: { region: string } }>('/households', async (req, reply) => {
  const { rows } = await pool.query<{ body: string }>(PAGE, [req.query.region.replace(/[\\%_]/g, '\\$&') + '%'])
  return await reply.type('application/json').send(rows[0]!.body)
})
app.post<{ Params: { id: string }, Querystring: { lock?: string }, Body: { employmentMonths: number } }>('/member/:id', async (req) => {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    if (req.query.lock === '1') await client.query('SELECT pg_advisory_xact_lock(41120002)')
    const { rows } = await client.query<{ region_code: string, version: number }>(
      'UPDATE members SET employment_months = $2, version = version + 1, updated_at = now() WHERE id = $1 AND active RETURNING region_code, version', [req.params.id, req.body.employmentMonths])
    await client.query(`INSERT INTO bench_floor_audit (at, actor_sub, actor_role, action, entity, entity_id, region_code, before, after)
      VALUES (now(), 'bench-clerk', 'OPERATOR', 'member.update', 'Member', $1, $2, NULL, $3)`, [req.params.id, rows[0]!.region_code, JSON.stringify({ employmentMonths: req.body.employmentMonths })])
    await client.query('COMMIT')
    return { id: req.params.id, version: rows[0]!.version }
  } catch (err) {
    await client.query('ROLLBACK')
    throw err
  } finally {
    client.release()
  }
})
const sealer = new Sealer(Buffer.from(process.env.DATA_KEY ?? '00'.repeat(32), 'hex'))
const ELIGIBILITY = `SELECT m.national_id_hash AS hash, h.status, h.attribute FROM members m JOIN households h ON h.id = m.household_id
  WHERE m.national_id_hash = ANY($1::text[]) AND m.active AND m.deceased_at IS NULL AND h.status <> 'CLOSED'`
app.post<{ Body: { nationalIds: string[] } }>('/eligibility', async (req) => {
  const ids = req.body.nationalIds.map(id => id.toUpperCase())
  const hashes = ids.map(id => sealer.lookupHash(id))
  const { rows } = await pool.query<{ hash: string, status: string, attribute: string }>({ name: 'eligibility', text: ELIGIBILITY, values: [[...new Set(hashes)]] })
  const byHash = new Map(rows.map(r => [r.hash, r]))
  return {
    results: req.body.nationalIds.map((nationalId, i) => {
      const r = byHash.get(hashes[i]!)
      return r === undefined ? { nationalId, registered: false, householdStatus: null, attribute: null } : { nationalId, registered: true, householdStatus: r.status, attribute: r.attribute }
    })
  }
})
app.get('/readyz', async () => ({ ok: true }))
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3931) })
process.once('SIGTERM', () => { void app.close().then(async () => { await pool.end() }) })
