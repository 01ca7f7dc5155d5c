/**
 * The audit sequencer across processes, on the machine's PostgreSQL whichever variant of
 * the suite runs: two service processes started at once (one sequences), the sequencing
 * process killed with SIGKILL in the middle of a large backlog while clerks keep writing,
 * its database session terminated, and the entries chained before the Merkle log (the
 * migration keeps their order). Each time: every committed entry gets exactly one
 * position, positions run 1..n with no gap, a transaction's entries keep their order, and
 * the log verifies.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import pg from 'pg'
import t, { type Test } from 'tap'
import { type Database, type DbOrTx, openDatabase, queryRows } from '../../src/db/index.js'
import { lockSequencer, pendingCount, saveStep, snapshotValues, unsequencedEntries, unsequencedQuery } from '../../src/modules/audit/audit-repository.js'
import { recordAudit } from '../../src/modules/audit/audit-service.js'
import { migrateAndSeed } from '../../src/infra/migrate.js'
import { paths, projectRoot } from '../../src/paths.js'
import { allSequenced, pending, wellFormed } from '../audit-support.js'
import { buildApp, machinePgDatabase, TEST_AUDIT_KEY, TEST_DATA_KEY, TEST_SECRET, token, uniqueSub } from '../helper.js'
import { serviceProcess, type ServiceProcess } from '../processes.js'

// Service processes start (tsx compiling each) and 80,000 entries are sequenced twice: about
// 70 s on a quiet machine, more than the suite's 120 s per file on a busy one.
t.setTimeout(300_000)

const LEADER_LOCK = 4112_0003 // src/modules/audit/audit-sequencer.ts

interface Service extends ServiceProcess { leading: () => boolean }

/** A service process of its own (as `npm start` runs it) on the database. */
async function service (t: Test, url: string): Promise<Service> {
  const s = await serviceProcess(t, {
    NODE_ENV: 'production', LOG_LEVEL: 'info', DATABASE_URL: url,
    JWT_SECRET: TEST_SECRET, DATA_KEY: TEST_DATA_KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY, DEMO_DATA: 'false', RATE_LIMIT_PER_MINUTE: '0'
  }, projectRoot)
  const leading = (): boolean => {
    const last = s.log.filter(l => /audit sequencer: (this process sequences|no longer leading)/.test(l)).at(-1)
    return last !== undefined && /this process sequences/.test(last)
  }
  return { ...s, leading }
}

/** Inserts `n` entries in one transaction, as an import batch does. */
async function backlog (client: pg.Client, n: number, tag: string): Promise<void> {
  await client.query(`INSERT INTO audit_events (at, actor_sub, actor_role, action, entity, entity_id, region_code, after)
    SELECT now(), 'load', 'ADMIN', 'test.load', 'Region', $1 || '-' || g, '4112', jsonb_build_object('g', g) FROM generate_series(1, $2::int) g`, [tag, n])
}

/** Clerks writing one entry per transaction until stopped; resolves with how many committed. */
function clerks (url: string, tag: string): { stop: () => Promise<number> } {
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  pool.on('error', () => {})
  let running = true
  let committed = 0
  const workers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; running; i++) {
      await pool.query(`INSERT INTO audit_events (at, actor_sub, actor_role, action, entity, entity_id, region_code) VALUES (now(), 'clerk', 'OPERATOR', 'test.clerk', 'Member', $1, '411224101201')`, [`${tag}-${w}-${i}`])
        .then(() => { committed++ }, () => {})
      await sleep(5)
    }
  })
  return { stop: async () => { running = false; await Promise.all(workers); await pool.end(); return committed } }
}

async function verifies (t: Test, s: Service): Promise<void> {
  const auth = `Bearer ${await token({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '4112' })}`
  const res = await fetch(`http://127.0.0.1:${s.port}/graphql`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ verifyAuditChain { valid checked pending treeSize problem } }' }) })
  const body = await res.json() as { data: { verifyAuditChain: { valid: boolean, checked: number, pending: number, treeSize: number, problem: string | null } } }
  t.match(body.data.verifyAuditChain, { valid: true, pending: 0, problem: null }, `the log verifies (${body.data.verifyAuditChain.treeSize} entries)`)
}

t.test('two processes started at once: one sequences; SIGKILL of it mid-backlog while clerks write: the other takes over, nothing lost, doubled or moved', async (t) => {
  const { url } = await machinePgDatabase()
  const ctl = new pg.Client({ connectionString: url })
  await ctl.connect()
  t.teardown(async () => { await ctl.end() })
  await backlog(ctl, 40_000, 'before')
  const [a, b] = await Promise.all([service(t, url), service(t, url)])
  for (let i = 0; i < 100 && !a.leading() && !b.leading(); i++) await sleep(50)
  t.equal([a, b].filter(s => s.leading()).length, 1, 'exactly one process sequences')
  const [leader, follower] = a.leading() ? [a, b] : [b, a]
  const writing = clerks(url, 'during')
  await backlog(ctl, 40_000, 'more')
  // Mid-backlog: some entries sequenced, many still pending.
  for (let i = 0; i < 600; i++) {
    const { rows: [{ n }] } = await ctl.query('SELECT count(*)::int AS n FROM audit_log')
    if (n > 0) break
    await sleep(10)
  }
  t.ok(await pending(ctl) > 5_000, 'killed with a backlog still pending')
  leader.child.kill('SIGKILL')
  await leader.exited
  const killedAt = Date.now()
  for (let i = 0; i < 200 && !follower.leading(); i++) await sleep(50)
  t.ok(follower.leading(), `the other process took over (${Date.now() - killedAt} ms after the kill)`)
  t.ok(Date.now() - killedAt < 5_000, 'within seconds')
  await sleep(500)
  const clerkWrites = await writing.stop()
  t.ok(clerkWrites > 0, `clerks wrote ${clerkWrites} entries meanwhile`)
  await allSequenced(ctl)
  await wellFormed(t, ctl)
  const { rows: [c] } = await ctl.query("SELECT count(*)::int AS n FROM audit_events WHERE action = 'test.clerk'")
  t.equal(c.n, clerkWrites, 'every clerk write that committed is an entry')
  await verifies(t, follower)
})

t.test('the sequencing session terminated: it takes the lead again and goes on, nothing lost or doubled', async (t) => {
  const { url } = await machinePgDatabase()
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 4 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  const app = await buildApp(t, { database })
  const ctl = new pg.Client({ connectionString: url })
  await ctl.connect()
  t.teardown(async () => { await ctl.end() })
  const holder = async (): Promise<number | undefined> => (await ctl.query<{ pid: number }>(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted", [LEADER_LOCK])).rows[0]?.pid
  for (let i = 0; i < 100 && await holder() === undefined; i++) await sleep(50)
  await backlog(ctl, 30_000, 'first')
  const writing = clerks(url, 'around')
  for (let round = 0; round < 3; round++) {
    let pid: number | undefined
    for (let i = 0; i < 100 && (pid = await holder()) === undefined; i++) await sleep(50)
    t.ok(pid !== undefined, `round ${round}: a session holds the lead`)
    await ctl.query('SELECT pg_terminate_backend($1)', [pid])
    await sleep(300)
    await backlog(ctl, 2_000, `round-${round}`)
  }
  const clerkWrites = await writing.stop()
  await app.sequenced()
  await wellFormed(t, ctl)
  const { rows: [c] } = await ctl.query("SELECT count(*)::int AS n FROM audit_events WHERE action = 'test.clerk'")
  t.equal(c.n, clerkWrites)
  const check = await app.as({ sub: uniqueSub(), role: 'AUDITOR', region: '4112' }).gql('{ verifyAuditChain { valid pending } }')
  t.same(check.data.verifyAuditChain, { valid: true, pending: 0 })
})

t.test('entries chained before the Merkle log are sequenced first, in their old order', async (t) => {
  const { url } = await machinePgDatabase() // migrated: start again from an empty database, up to 0008
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  const name = `${new URL(url).pathname.slice(1)}_legacy`
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const legacyUrl = Object.assign(new URL(url), { pathname: `/${name}` }).toString()
  t.teardown(async () => {
    const a = new pg.Client({ connectionString: url })
    await a.connect()
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await a.end()
  })
  // The migrations as they were before 0009.
  const before = mkdtempSync(join(tmpdir(), 'br-migrations-'))
  cpSync(paths.migrations, before, { recursive: true })
  const journal = JSON.parse(readFileSync(join(before, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }
  journal.entries = journal.entries.filter(e => e.tag < '0009')
  writeFileSync(join(before, 'meta', '_journal.json'), JSON.stringify(journal))
  const { drizzle } = await import('drizzle-orm/node-postgres')
  const { migrate } = await import('drizzle-orm/node-postgres/migrator')
  const client = new pg.Client({ connectionString: legacyUrl })
  await client.connect()
  t.teardown(async () => { await client.end() })
  await migrate(drizzle({ client }), { migrationsFolder: before })
  // A chain of 5 entries as the old code wrote them (seq, prev_hash, hash).
  for (let seq = 1; seq <= 5; seq++) {
    await client.query(`INSERT INTO audit_events (seq, at, actor_sub, actor_role, action, entity, entity_id, region_code, after, prev_hash, hash)
      VALUES ($1::int, now() - interval '1 day' + $1::int * interval '1 minute', 'old', 'ADMIN', 'region.update', 'Region', $2, '4112', '{"x": 1}', $3, $4)`,
    [seq, `legacy-${seq}`, String(seq - 1).padStart(64, '0'), String(seq).padStart(64, '0')])
  }
  const database = await openDatabase({ kind: 'postgres', url: legacyUrl, poolMax: 3 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  await migrateAndSeed(database, { regionSeed: '4112' })
  const app = await buildApp(t, { database })
  const op = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const res = await op.gql('mutation { updateRegion(code: "411224101201", expectedVersion: 1, input: { ruralPopulation: 9 }) { version } }')
  t.equal(res.errors, undefined)
  await app.sequenced()
  const log = await queryRows<{ seq: number, entity_id: string }>(database.db, sql`SELECT l.seq::int AS seq, e.entity_id FROM audit_log l JOIN audit_events e ON e.id = l.entry_id ORDER BY l.seq`)
  t.same(log.map(r => r.entity_id), ['legacy-1', 'legacy-2', 'legacy-3', 'legacy-4', 'legacy-5', '411224101201'], 'the old entries first, in their order; the new one after')
  const check = await app.as({ sub: uniqueSub(), role: 'AUDITOR', region: '4112' }).gql('{ verifyAuditChain { valid treeSize } }')
  t.same(check.data.verifyAuditChain, { valid: true, treeSize: 6 })
})

/**
 * A database of its own whose audit tables were analysed while the month held nothing —
 * later loads leave the statistics stale, with no autovacuum to analyse again (as on a
 * server where it is off or behind) — with a client, the app's database on one connection
 * (every look runs, and is prepared, on the same session), and the snapshot before any entry.
 */
async function emptyMonth (t: Test): Promise<{ client: pg.Client, database: Database, snapshot: string }> {
  const { url } = await machinePgDatabase()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 1 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  await client.query('ANALYZE audit_events')
  await client.query('ANALYZE audit_log')
  const snapshot = (await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0]!.s
  return { client, database, snapshot }
}

t.test('a step\'s look for new entries keeps to the txid index, with no parallel workers, however stale the statistics (a month analysed empty, then 30,000 entries), in a plan for its values as in a generic one', async (t) => {
  const { client, database, snapshot } = await emptyMonth(t)
  const { month } = (await client.query<{ month: string }>(`SELECT 'audit_events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM') AS month`)).rows[0]!
  const entries = 30_000
  await backlog(client, entries, 'stale')
  interface PlanNode { 'Node Type': string, 'Relation Name'?: string, 'Index Name'?: string, 'Index Cond'?: string, 'Recheck Cond'?: string, 'Plan Rows': number, Plans?: PlanNode[] }
  // The look is a prepared statement: PostgreSQL may plan it for the step's values or,
  // after a few steps, once for any values. Both plans are checked, of both shapes of the
  // look: without and with transactions in progress at the last look (xip). Which shape a
  // snapshot of the shared server has depends on what else runs on it, so the xip is given.
  const { values } = snapshotValues(snapshot)
  const literal = (v: string | number): string => `'${String(v).replace(/'/g, "''")}'`
  for (const withXip of [false, true]) {
    const query = new PgDialect().sqlToQuery(unsequencedQuery(withXip))
    const given = { ...values, xip: withXip ? `{${values.xmax}}` : '{}', limit: 5000 }
    const args = query.params.map(p => literal(given[(p as { name: keyof typeof given }).name]))
    for (const mode of ['force_custom_plan', 'force_generic_plan']) {
      const plan = await database.db.transaction(async (tx) => {
        // Parallel workers made to look free: the step must still start none.
        await tx.execute(sql`SET LOCAL parallel_setup_cost = 0`)
        await tx.execute(sql`SET LOCAL parallel_tuple_cost = 0`)
        await tx.execute(sql`SET LOCAL min_parallel_index_scan_size = 0`)
        await tx.execute(sql.raw(`SET LOCAL plan_cache_mode = ${mode}`))
        await lockSequencer(tx)
        await tx.execute(sql.raw(`PREPARE look AS ${query.sql}`))
        const [row] = await queryRows<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(tx, sql.raw(`EXPLAIN (FORMAT JSON) EXECUTE look(${args.join(', ')})`))
        await tx.execute(sql`DEALLOCATE look`)
        return row!['QUERY PLAN'][0]!.Plan
      }, { isolationLevel: 'repeatable read' })
      const nodes: PlanNode[] = []
      const walk = (n: PlanNode): void => { nodes.push(n); n.Plans?.forEach(walk) }
      walk(plan)
      const label = `${withXip ? 'with' : 'without'} transactions in progress, ${mode}`
      const scans = nodes.filter(n => n['Relation Name'] === month || n['Index Name'] === `${month}_txid_idx`)
      t.ok(scans.length > 0 && scans.every(n => !/Seq Scan/.test(n['Node Type'])), `${label}: the month's entries are found by the txid index (${scans.map(n => n['Node Type']).join(', ')})`)
      // Open-ended, the range was estimated at a third of the partition: the plan that, as the
      // month grows, turns into reading all of it on every step. (The in-progress half, a
      // txid = ANY(xip), is estimated in a generic plan at a fixed share of the month, 10
      // unknown values; a share that keeps it on the index at any size.)
      const range = scans.filter(n => !/ANY/.test(n['Index Cond'] ?? n['Recheck Cond'] ?? ''))
      t.ok(range.length > 0 && range.every(n => n['Plan Rows'] < entries / 100), `${label}: the planner expects a short tail, not a share of the month (${range.map(n => n['Plan Rows']).join(', ')} rows)`)
      t.same(nodes.filter(n => /Gather/.test(n['Node Type'])).map(n => n['Node Type']), [], `${label}: no parallel workers`)
    }
  }
})

t.test('a look planned while the month was nearly empty still reads by index once it has filled: neither a step nor the pending count scans a partition whole', async (t) => {
  const { client, database, snapshot } = await emptyMonth(t)
  const [xmin, xmax] = snapshot.split(':')
  // Both shapes of the look: without and with transactions in progress at the last look.
  const snapshots = [`${xmin}:${xmax}:`, `${xmin}:${xmax}:${BigInt(xmax!) - 1n}`]
  const wholeScans = async (tx: DbOrTx): Promise<string[]> => (await queryRows<{ relname: string }>(tx, sql`SELECT relname FROM pg_stat_xact_user_tables
    WHERE (relname LIKE 'audit\_events\_%' OR relname LIKE 'audit\_log\_%') AND seq_scan > 0 ORDER BY relname`)).map(r => r.relname)
  const step = async (snapshot: string): Promise<{ found: number, scanned: string[] }> => await database.db.transaction(async (tx) => {
    await lockSequencer(tx)
    return { found: (await unsequencedEntries(tx, snapshot, 5000)).length, scanned: await wholeScans(tx) }
  }, { isolationLevel: 'repeatable read' })
  const count = async (): Promise<{ n: number, scanned: string[] }> => await database.db.transaction(async (tx) => ({ n: await pendingCount(tx), scanned: await wholeScans(tx) }))

  // A new month: a few entries, and enough looks for PostgreSQL to settle on one plan for any values.
  await backlog(client, 20, 'early')
  for (let i = 0; i < 8; i++) {
    for (const s of snapshots) await step(s)
    await count()
  }
  const plans = await queryRows<{ name: string, generic: number }>(database.db, sql`SELECT name, generic_plans::int AS generic FROM pg_prepared_statements
    WHERE name LIKE 'audit\_unsequenced\_%' OR name LIKE 'audit\_pending\_%' ORDER BY name`)
  t.match(plans.map(p => p.name), [/^audit_pending_/, 'audit_unsequenced_range', 'audit_unsequenced_xip'], 'the looks are prepared statements of the connection')
  t.ok(plans.every(p => p.generic > 0), `each now runs its generic plan, made while the month held 20 entries (${plans.map(p => `${p.name} ${p.generic}`).join(', ')})`)

  // The month fills, and nothing analyses it again (autovacuum behind or off).
  await backlog(client, 30_000, 'late')
  for (const s of snapshots) {
    const { found, scanned } = await step(s)
    t.equal(found, 5000, 'a step finds a batch')
    t.same(scanned, [], `${s.endsWith(':') ? 'without' : 'with'} transactions in progress: the step reads no partition whole`)
  }
  const { n, scanned } = await count()
  t.equal(n, 30_020, 'every entry is pending')
  t.same(scanned, [], 'the pending count reads no partition whole')
})

t.test('the entries\' insert and a step\'s look and write are prepared statements, parsed once per connection whatever the values', async (t) => {
  const { url } = await machinePgDatabase()
  // One connection: the prepared statements it holds are those this test made.
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 1 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  const actor = { sub: uniqueSub(), role: 'OPERATOR' }
  for (let round = 0; round < 3; round++) {
    await recordAudit(database.db, actor, new Date(), { action: 'member.update', entity: 'Member', entityId: `m-${round}`, regionCode: '411224', before: { round }, after: { round: round + 1 } })
    await database.db.transaction(async (tx) => {
      const state = await lockSequencer(tx)
      t.ok((await unsequencedEntries(tx, state.snapshot, 10)).length >= 1, `round ${round}: the new entry is seen`)
      // Written back as read: nothing changes but the statement runs.
      await saveStep(tx, [], [], Number(state.treeSize), state.snapshot, new Date())
    }, { isolationLevel: 'repeatable read' })
  }
  const prepared = await queryRows<{ name: string, calls: string }>(database.db, sql`SELECT name, (generic_plans + custom_plans)::text AS calls FROM pg_prepared_statements ORDER BY name`)
  const names = prepared.map(p => p.name)
  t.ok(names.some(n => /^insert_audit_events_\d+$/.test(n)), `the entries' insert is named (${names.join(', ')})`)
  t.ok(names.includes('audit_unsequenced_range') || names.includes('audit_unsequenced_xip'), 'the look is named')
  t.ok(names.includes('audit_save_step'), 'the step\'s write is named')
  t.equal(prepared.filter(p => p.name.startsWith('insert_audit_events_')).length, 1, 'one insert statement for one set of columns, however many times it ran')
  t.equal(prepared.find(p => p.name === 'audit_save_step')?.calls, '3', 'the step\'s write prepared once and run three times')
})
