import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { loadConfig, ConfigError } from '../src/config.js'
import { queryRows, type Database } from '../src/db/index.js'
import { paths, projectRoot } from '../src/paths.js'
import { ArchiveRefused, archiveMonth } from '../src/modules/audit/audit-archive.js'
import { verifyConsistency, verifyInclusion } from '../src/modules/audit/audit-merkle.js'
import { verifyExport } from '../src/modules/audit/audit-offline.js'
import * as repo from '../src/modules/audit/audit-repository.js'
import { recordAudit } from '../src/modules/audit/audit-service.js'
import { parsePublicKeys, type TreeHead } from '../src/shared/tree-heads.js'
import { buildApp, freshDatabase, testConfig, uniqueSub, type TestApp } from './helper.js'

void paths
const VERIFY = '{ verifyAuditChain { valid checked pending archived archivedMonths treeSize rootHash firstInvalid problem } }'
const actor = { sub: 'partition-test', role: 'ADMIN' }

/** The partition each entry of `action` is stored in, by entity id. */
async function partitionsOf (database: Database, action: string): Promise<Record<string, { entry: string, position: string | null }>> {
  const rows = await queryRows<{ id: string, entry: string, position: string | null }>(database.db, sql`SELECT e.entity_id AS id, e.tableoid::regclass::text AS entry,
    (SELECT l.tableoid::regclass::text FROM audit_log l WHERE l.entry_id = e.id AND l.at = e.at) AS position FROM audit_events e WHERE e.action = ${action}`)
  return Object.fromEntries(rows.map(r => [r.id, { entry: r.entry, position: r.position }]))
}

/** Writes entries at the given instants, as changes would (each its own transaction). */
async function write (database: Database, action: string, ats: Record<string, string>): Promise<void> {
  for (const [id, at] of Object.entries(ats)) {
    await database.db.transaction(async (tx) => { await recordAudit(tx, actor, new Date(at), { action, entity: 'Region', entityId: id, regionCode: '411224101201', after: { at } }) })
  }
}

async function attached (database: Database, table: string): Promise<boolean> {
  return (await queryRows(database.db, sql`SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = ${table}`)).length === 1
}

function auditVerify (args: string[]): { status: number | null, out: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/audit-verify.ts', ...args], { cwd: projectRoot, encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 60_000 })
  return { status: res.status, out: res.stdout + res.stderr }
}

t.test('writes across a month boundary land in their months\' partitions and are sequenced; a month with no partition falls into DEFAULT, and is reported', async (t) => {
  const database = await freshDatabase()
  const lines: string[] = []
  const app = await buildApp(t, { database, log: (line) => { lines.push(line) } })
  await repo.ensureMonths(database.db, new Date('2026-04-15T00:00:00Z'), 1)
  await write(database, 'test.boundary', {
    'last-ms-of-april': '2026-04-30T23:59:59.999Z',
    'first-ms-of-may': '2026-05-01T00:00:00.000Z',
    'beijing-may-1st-morning': '2026-05-01T07:30:00+08:00'
  })
  // Both months in one transaction too.
  await database.db.transaction(async (tx) => {
    await recordAudit(tx, actor, new Date('2026-04-30T23:59:59.000Z'), { action: 'test.boundary', entity: 'Region', entityId: 'tx-april', regionCode: '411224101201' })
    await recordAudit(tx, actor, new Date('2026-05-01T00:00:01.000Z'), { action: 'test.boundary', entity: 'Region', entityId: 'tx-may', regionCode: '411224101201' })
  })
  await app.sequenced()
  t.same(await partitionsOf(database, 'test.boundary'), {
    'last-ms-of-april': { entry: 'audit_events_2026_04', position: 'audit_log_2026_04' },
    'first-ms-of-may': { entry: 'audit_events_2026_05', position: 'audit_log_2026_05' },
    'beijing-may-1st-morning': { entry: 'audit_events_2026_04', position: 'audit_log_2026_04' },
    'tx-april': { entry: 'audit_events_2026_04', position: 'audit_log_2026_04' },
    'tx-may': { entry: 'audit_events_2026_05', position: 'audit_log_2026_05' }
  }, 'months are UTC months; each position sits beside its entry')

  // A far-off clock: no partition for that month, so the DEFAULT partition takes it — and says so.
  await write(database, 'test.stray', { 'far-future': '2031-01-15T00:00:00.000Z' })
  await app.sequenced()
  t.same(await partitionsOf(database, 'test.stray'), { 'far-future': { entry: 'audit_events_default', position: 'audit_log_default' } })
  await app.app.auditSequencer.maintain(database.db)
  t.equal(app.app.auditSequencer.inDefault, 1)
  t.ok(lines.some(l => l.includes('DEFAULT partition') && l.includes('2031-01')), 'the leader warns, naming the month')
  const auditor = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '4112' })
  t.match((await app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' }).get('/metrics')).body, /audit_default_partition_entries 1/)

  const check = (await auditor.gql(VERIFY)).data.verifyAuditChain
  t.equal(check.valid, true, check.problem)
  t.equal(check.archived, 0)
})

t.test('the leader makes this month\'s and the next month\'s partitions ahead of time', async (t) => {
  const database = await freshDatabase()
  const now = new Date('2029-12-20T10:00:00Z')
  const app = await buildApp(t, { database, clock: () => now })
  await app.sequenced()
  await app.app.auditSequencer.maintain(database.db)
  for (const table of ['audit_events_2029_12', 'audit_log_2029_12', 'audit_events_2030_01', 'audit_log_2030_01']) t.ok(await attached(database, table), `${table} attached`)
  t.notOk(await attached(database, 'audit_events_2030_02'), 'not further ahead')
  // Writes of that month then go to it, not to DEFAULT.
  await write(database, 'test.ahead', { 'new-year': '2030-01-01T00:00:00.000Z' })
  await app.sequenced()
  t.same(await partitionsOf(database, 'test.ahead'), { 'new-year': { entry: 'audit_events_2030_01', position: 'audit_log_2030_01' } })
  t.equal(await repo.ensureMonths(database.db, now, 1), false, 'making them again is a no-op')
})

t.test('AUDIT_ARCHIVE_MIN_MONTHS is 6 by default and never below', async (t) => {
  t.equal(testConfig().audit.archiveMinMonths, 6)
  t.equal(testConfig({ AUDIT_ARCHIVE_MIN_MONTHS: '12' }).audit.archiveMinMonths, 12)
  t.throws(() => loadConfig({ NODE_ENV: 'test', DATA_DIR: join(tmpdir(), 'br-unused'), AUDIT_ARCHIVE_MIN_MONTHS: '5' }), ConfigError)
})

t.test('audit:archive exports a month, verifiable offline, then detaches it; the service goes on (proofs, export, change feed, verifyAuditChain)', async (t) => {
  const database = await freshDatabase()
  const config = testConfig()
  const app = await buildApp(t, { database, config })
  const out = mkdtempSync(join(tmpdir(), 'br-audit-archive-'))
  t.teardown(() => { rmSync(out, { recursive: true, force: true }) })
  await repo.ensureMonths(database.db, new Date('2026-03-15T00:00:00Z'), 3)
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const auditor = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '4112' })
  await write(database, 'test.march', { m1: '2026-03-10T00:00:00Z', m2: '2026-03-31T23:59:59.999Z' })
  await write(database, 'test.april', { a1: '2026-04-01T00:00:00Z', a2: '2026-04-02T00:00:00Z', a3: '2026-04-29T12:00:00Z' })
  await write(database, 'test.may', { y1: '2026-05-03T00:00:00Z' })
  await app.sequenced()
  const early = (await admin.get('/api/v1/audit/tree-head')).json() as TreeHead
  const aprilSeqs = (await queryRows<{ seq: number }>(database.db, sql`SELECT seq::int AS seq FROM audit_log_2026_04 ORDER BY seq`)).map(r => r.seq)
  t.equal(aprilSeqs.length, 3)
  const after = new Date('2026-11-02T00:00:00Z')

  // Refusals: nothing written, nothing detached.
  const refused = async (opts: Partial<Parameters<typeof archiveMonth>[2]>, pattern: RegExp, what: string): Promise<void> => {
    await t.rejects(archiveMonth(database.db, config, { month: '2026-04', out, drop: false, now: after, ...opts }), pattern, what)
  }
  await refused({ now: new Date('2026-10-31T23:59:59Z') }, /kept in the database at least 6 months.*from 2026-11-01/, 'a month that ended less than 6 months ago')
  await refused({ month: '2026-13' }, /YYYY-MM/, 'not a month')
  await refused({ month: '2025-01' }, /no partitions/, 'a month with no partitions')
  t.rejects(archiveMonth(database.db, testConfig({ AUDIT_ARCHIVE_MIN_MONTHS: '7' }), { month: '2026-04', out, drop: false, now: after }), /at least 7 months/, 'a longer minimum configured')
  await app.app.auditSequencer.stop()
  await write(database, 'test.april-late', { a4: '2026-04-30T00:00:00Z' })
  await refused({}, /1 entries of 2026-04 are not sequenced/, 'a month not fully sequenced')
  app.app.auditSequencer.start()
  await app.sequenced()
  t.equal(await attached(database, 'audit_events_2026_04'), true)
  t.same((await import('node:fs')).readdirSync(out), [], 'nothing written by a refusal')

  const result = await archiveMonth(database.db, config, { month: '2026-04', out, drop: false, now: after })
  const dir = join(out, 'audit-2026-04')
  t.match(result, { month: '2026-04', dir, entries: 4, first: aprilSeqs[0], dropped: false })
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
  t.match(manifest, { month: '2026-04', entries: 4, first: result.first, last: result.last })
  const archived = readFileSync(join(dir, 'log.ndjson'), 'utf8').trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  t.same(archived.filter(e => String(e.action).startsWith('test.april')).map(e => e.entityId).sort(), ['a1', 'a2', 'a3', 'a4'], 'every entry of the month, in full')
  t.ok(archived.some(e => e.entityId === 'y1'), 'and, in full, an entry of May sequenced between two of April\'s (it stays in the database too)')
  t.same(archived.map(e => e.seq), Array.from({ length: result.last! - result.first! + 1 }, (_, i) => result.first! + i), 'positions first..last in order')
  t.equal(await attached(database, 'audit_events_2026_04'), false, 'entries detached')
  t.equal(await attached(database, 'audit_log_2026_04'), false, 'positions detached')
  t.equal((await queryRows(database.db, sql`SELECT 1 FROM audit_events WHERE action LIKE 'test.april%'`)).length, 0)
  t.equal((await queryRows(database.db, sql`SELECT 1 FROM audit_events_2026_04`)).length, 4, 'kept as a table of its own without --drop')

  // Offline: the archive alone verifies; a changed entry does not.
  let res = auditVerify(['--archive', dir])
  t.equal(res.status, 0, res.out)
  t.match(res.out, `valid: positions ${result.first}–${result.last}`)
  const forged = join(out, 'forged')
  cpSync(dir, forged, { recursive: true })
  writeFileSync(join(forged, 'log.ndjson'), readFileSync(join(dir, 'log.ndjson'), 'utf8').replace('"entityId":"a2"', '"entityId":"a9"'))
  res = auditVerify(['--archive', forged])
  t.equal(res.status, 1, res.out)
  t.match(res.out, /INVALID at position \d+: the entry was altered/)

  // Never twice, never over an archive.
  await refused({}, /exists: an archive is never overwritten/, 'the archive directory exists')
  await refused({ out: join(out, 'elsewhere') }, /2026-04 was archived on/, 'archived already')
  t.equal(await repo.ensureMonths(database.db, new Date('2026-04-15T00:00:00Z'), 0), false, 'an archived month is never made again')

  // The service after the detach.
  await write(database, 'test.after', { n1: new Date().toISOString() })
  await app.sequenced()
  const check = (await auditor.gql(VERIFY)).data.verifyAuditChain
  t.match(check, { valid: true, pending: 0, archived: 4, archivedMonths: ['2026-04'] }, check.problem)
  t.equal(check.checked + check.archived, check.treeSize)
  const head = (await admin.get('/api/v1/audit/tree-head')).json() as TreeHead
  const proof = (await admin.get(`/api/v1/audit/proofs/inclusion?seq=${aprilSeqs[1]!}&treeSize=${head.treeSize}`)).json()
  t.ok(verifyInclusion(aprilSeqs[1]! - 1, head.treeSize, Buffer.from(proof.leafHash, 'hex'), proof.path.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(head.rootHash, 'hex')), 'an archived entry\'s inclusion proof still verifies')
  t.equal(proof.leafHash, archived.find(e => e.entityId === 'a2')!.leafHash, 'with the leaf the archive holds')
  const consistency = (await admin.get(`/api/v1/audit/proofs/consistency?first=${early.treeSize}&second=${head.treeSize}`)).json()
  t.ok(verifyConsistency(early.treeSize, head.treeSize, consistency.proof.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(early.rootHash, 'hex'), Buffer.from(head.rootHash, 'hex')), 'a head from before the archive is a prefix of the one after')
  const exported = (await admin.get(`/api/v1/audit/log?to=${head.treeSize}`)).body.split('\n').filter(l => l !== '')
  for (const seq of aprilSeqs) t.same(Object.keys(JSON.parse(exported[seq - 1]!)), ['seq', 'leafHash'], `position ${seq}, archived, exported as { seq, leafHash }`)
  const keys = parsePublicKeys((await app.app.inject({ method: 'GET', url: '/.well-known/audit-keys.json' })).body)
  t.match(await verifyExport(exported, head, keys), { ok: true }, 'the whole export still verifies offline')
  const list = (await auditor.gql('{ auditLog(first: 100) { totalCount edges { node { entityId } } } }')).data.auditLog
  t.notOk(list.edges.some((e: { node: { entityId: string } }) => /^a\d$/.test(e.node.entityId)), 'auditLog lists retained entries only')
  // The change feed: a reader behind the archived month is told where to resume.
  const behind = await admin.get(`/api/v1/changes?after=${result.first! - 1}`)
  t.equal(behind.statusCode, 400)
  t.match(behind.json(), { errors: [{ path: 'querystring.after', message: new RegExp(`archived \\(months 2026-04.*after=${result.last}`) }] })
  const resumed = await admin.get(`/api/v1/changes?after=${result.last}`)
  t.equal(resumed.statusCode, 200)
  t.ok((resumed.json().items as Array<{ id: string }>).some(i => i.id === 'n1'), 'changes after the archive are served')

  // --drop: the partitions go; the log stays whole.
  const may = await archiveMonth(database.db, config, { month: '2026-05', out, drop: true, now: new Date('2026-12-01T00:00:00Z') })
  t.match(may, { entries: 1, dropped: true })
  t.equal((await queryRows<{ t: string | null }>(database.db, sql`SELECT to_regclass('audit_events_2026_05')::text AS t`))[0]!.t, null, 'dropped')
  t.equal(auditVerify(['--archive', may.dir]).status, 0)
  const again = (await auditor.gql(VERIFY)).data.verifyAuditChain
  t.match(again, { valid: true, archivedMonths: ['2026-04', '2026-05'] }, again.problem)
  // An empty month is archived too (it only holds a head and the keys).
  const june = await archiveMonth(database.db, config, { month: '2026-06', out, drop: true, now: new Date('2027-01-01T00:00:00Z') })
  t.match(june, { entries: 0, first: null })
  t.equal(auditVerify(['--archive', june.dir]).status, 0)
  t.notOk(existsSync(join(out, 'audit-2026-07')))
  void ArchiveRefused
})

t.test('npm run audit:archive: usage, and the refusals of the command itself', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'br-archive-cli-'))
  t.teardown(() => { rmSync(dataDir, { recursive: true, force: true }) })
  const run = (args: string[]): { status: number | null, out: string } => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/audit-archive.ts', ...args], { cwd: projectRoot, encoding: 'utf8', env: { PATH: process.env.PATH, DATA_DIR: dataDir, LOG_LEVEL: 'warn', DEMO_DATA: 'false' }, timeout: 120_000 })
    return { status: res.status, out: res.stdout + res.stderr }
  }
  t.match(run([]), { status: 2, out: /usage: npm run audit:archive -- --month YYYY-MM --out DIR/ })
  const last = new Date()
  const recent = `${last.getUTCFullYear()}-${String(last.getUTCMonth() + 1).padStart(2, '0')}`
  t.match(run(['--month', recent, '--out', join(dataDir, 'archives')]), { status: 1, out: /refused: .*kept in the database at least 6 months/ })
  t.notOk(existsSync(join(dataDir, 'archives')), 'nothing written')
})

export type { TestApp }
