import { sql } from 'drizzle-orm'
import t from 'tap'
import { openDatabase, queryRows, type Database } from '../src/db/index.js'
import { ACTOR_ENTRIES_FIRST, countInArea, countInAreaQuery, listInAreaQuery, readFrom } from '../src/modules/audit/audit-repository.js'
import { leafHash, verifyConsistency, verifyInclusion } from '../src/modules/audit/audit-merkle.js'
import { verifyExport } from '../src/modules/audit/audit-offline.js'
import { recordAudit } from '../src/modules/audit/audit-service.js'
import type { Principal } from '../src/shared/principal.js'
import { headProblem, parsePublicKeys, type TreeHead } from '../src/shared/tree-heads.js'
import { buildApp, freshDatabase, machinePgDatabase, uniqueSub, type Client, type TestApp } from './helper.js'
import { pageBothWays } from './paging.js'
import { planNodes } from './plans.js'

/** The database's own message of a failed statement (drizzle wraps it as the cause). */
async function failure (p: Promise<unknown>): Promise<string> {
  try { await p } catch (err) { return String((err as { cause?: Error }).cause?.message ?? (err as Error).message) }
  return 'no error'
}

const UPDATE = 'mutation ($code: String!, $v: Int!, $input: RegionPatch!) { updateRegion(code: $code, expectedVersion: $v, input: $input) { version } }'
const LOG = `query ($filter: AuditFilter, $first: Int, $after: String) { auditLog(filter: $filter, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { seq at actorSub actorRole action entity entityId regionCode source before after } } } }`
const VERIFY = '{ verifyAuditChain { valid checked pending treeSize rootHash firstInvalid problem } }'
const HEAD = '{ auditTreeHead { treeSize rootHash timestamp keyId signature } }'

async function changeRegions (admin: Client, codes: string[], value = 100): Promise<void> {
  for (const code of codes) {
    const { region } = (await admin.gql('query ($c: String!) { region(code: $c) { version } }', { c: code })).data
    const res = await admin.gql(UPDATE, { code, v: region.version, input: { ruralPopulation: value } })
    if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
  }
}

/** The app's log as its city-level export, parsed. */
async function exported (client: Client, query = ''): Promise<Array<Record<string, any>>> {
  const res = await client.get(`/api/v1/audit/log${query}`)
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.body.split('\n').filter(l => l !== '').map(l => JSON.parse(l))
}

async function keysOf (app: TestApp): Promise<ReturnType<typeof parsePublicKeys>> {
  const res = await app.app.inject({ method: 'GET', url: '/.well-known/audit-keys.json' })
  return parsePublicKeys(res.body)
}

/** Alters a table with its append-only triggers off, as someone with the database's owner rights could. */
async function tamper (database: Database, table: string, statement: string): Promise<void> {
  await database.db.transaction(async (tx) => {
    await tx.execute(sql.raw(`ALTER TABLE ${table} DISABLE TRIGGER USER`))
    await tx.execute(sql.raw(statement))
    await tx.execute(sql.raw(`ALTER TABLE ${table} ENABLE TRIGGER USER`))
  })
}

t.test('each change writes one entry, sequenced after commit; auditLog pages newest first; the log verifies', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await changeRegions(admin, ['411224101206', '411224101207', '411224101208'])
  await app.sequenced()
  const auditor = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '411224' })
  const page1 = await auditor.gql(LOG, { filter: { entity: 'Region' }, first: 2 })
  t.equal(page1.errors, undefined)
  const log1 = page1.data.auditLog
  t.equal(log1.totalCount, 3)
  t.equal(log1.pageInfo.hasNextPage, true)
  t.same(log1.edges.map((e: { node: { entityId: string } }) => e.node.entityId), ['411224101208', '411224101207'])
  t.match(log1.edges[0].node, { seq: '3', actorRole: 'ADMIN', action: 'region.update', entity: 'Region', regionCode: '411224101208', before: { ruralPopulation: null }, after: { ruralPopulation: 100 } })
  const page2 = await auditor.gql(LOG, { filter: { entity: 'Region' }, first: 2, after: log1.pageInfo.endCursor })
  t.same(page2.data.auditLog.edges.map((e: { node: { entityId: string } }) => e.node.entityId), ['411224101206'])
  t.equal(page2.data.auditLog.pageInfo.hasNextPage, false)

  t.equal((await auditor.gql(LOG, { filter: { entityId: '411224101207' } })).data.auditLog.totalCount, 1)
  t.equal((await auditor.gql(LOG, { filter: { actorSub: 'nobody' } })).data.auditLog.totalCount, 0)
  const today = new Date().toISOString().slice(0, 10)
  t.equal((await auditor.gql(LOG, { filter: { from: today, to: '2999-01-01' } })).data.auditLog.totalCount, 3)
  const badDate = await auditor.gql(LOG, { filter: { from: 'yesterday' } })
  t.same(badDate.errors?.[0]?.extensions.fields?.map(f => f.path), ['filter.from'])
  t.same((await auditor.gql(LOG, { after: 'bm90LWEtY3Vyc29y' })).errors?.[0]?.extensions.fields?.map(f => f.path), ['after'])
  t.same((await auditor.gql(LOG, { first: 500 })).errors?.[0]?.extensions.fields?.map(f => f.path), ['first'])

  const check = (await auditor.gql(VERIFY)).data.verifyAuditChain
  t.match(check, { valid: true, checked: 3, pending: 0, treeSize: 3, firstInvalid: null, problem: null })
  const lines = await exported(admin)
  t.equal(check.rootHash, (await verifyExport(lines.map(l => JSON.stringify(l)), (await admin.gql(HEAD)).data.auditTreeHead, await keysOf(app)) as { rootHash: string }).rootHash, 'the root the export makes')
})

t.test('writers take no shared lock: two open transactions append entries at once, and the later commit is sequenced first', async (t) => {
  const database = await freshDatabase()
  const app = await buildApp(t, { database })
  const actor = { sub: 'writer', role: 'ADMIN' }
  const event = (id: string): Parameters<typeof recordAudit>[3] => ({ action: 'test.write', entity: 'Region', entityId: id, regionCode: '4112' })
  if (database.kind === 'pglite') {
    // One connection: transactions run one after another, each entry still sequenced once.
    await database.db.transaction(async (tx) => { await recordAudit(tx, actor, new Date(), event('a')) })
    await database.db.transaction(async (tx) => { await recordAudit(tx, actor, new Date(), event('b')) })
  } else {
    // A commits after B although it wrote first; the sequencer ran in between.
    let releaseA!: () => void
    const holdA = new Promise<void>(resolve => { releaseA = resolve })
    let wroteA!: () => void
    const aWrote = new Promise<void>(resolve => { wroteA = resolve })
    const a = database.db.transaction(async (tx) => { await recordAudit(tx, actor, new Date(), event('a')); wroteA(); await holdA })
    await aWrote
    await database.db.transaction(async (tx) => { await recordAudit(tx, actor, new Date(), event('b')) })
    await app.sequenced()
    const early = await queryRows<{ entity_id: string }>(database.db, sql`SELECT e.entity_id FROM audit_log l JOIN audit_events e ON e.id = l.entry_id WHERE e.action = 'test.write'`)
    t.same(early.map(r => r.entity_id), ['b'], 'B sequenced while A is still open')
    releaseA()
    await a
  }
  await app.sequenced()
  const rows = await queryRows<{ entity_id: string, seq: string }>(database.db, sql`SELECT e.entity_id, l.seq::text AS seq FROM audit_log l JOIN audit_events e ON e.id = l.entry_id WHERE e.action = 'test.write' ORDER BY l.seq`)
  t.same(rows.map(r => r.entity_id), database.kind === 'pglite' ? ['a', 'b'] : ['b', 'a'], 'each once, in the order their commits became visible')
  const [{ n, max }] = await queryRows<{ n: number, max: number }>(database.db, sql`SELECT count(*)::int AS n, max(seq)::int AS max FROM audit_log`) as [{ n: number, max: number }]
  t.equal(n, max, 'positions 1..n with no gap')
  t.equal((await app.as({ sub: uniqueSub(), role: 'AUDITOR', region: '4112' }).gql(VERIFY)).data.verifyAuditChain.valid, true)
})

t.test('auditLog, the tree head, proofs and verification: ADMIN and AUDITOR only; auditLog shows entries of their area only', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await changeRegions(admin, ['411224101215', '411203'], 5)
  await app.sequenced()
  for (const role of ['VIEWER', 'OPERATOR', 'REVIEWER', 'EXCHANGE']) {
    const client = app.as({ sub: uniqueSub(), role, region: '4112', ...(role === 'EXCHANGE' ? { dept: 'health' } : {}) })
    for (const q of [LOG, VERIFY, HEAD, '{ auditInclusionProof(seq: 1) { seq } }', '{ auditConsistencyProof(first: 1, second: 2) }']) {
      t.equal((await client.gql(q)).errors?.[0]?.extensions.code, 'FORBIDDEN', `${role}: ${q.slice(0, 30)} → FORBIDDEN`)
    }
    for (const url of ['/api/v1/audit/tree-head', '/api/v1/audit/proofs/inclusion?seq=1', '/api/v1/audit/proofs/consistency?first=1&second=2', '/api/v1/audit/log']) {
      t.equal((await client.get(url)).statusCode, 403, `${role}: ${url} → 403`)
    }
  }
  const otherCounty = app.as({ sub: uniqueSub(), role: 'AUDITOR', region: '411282' })
  t.equal((await otherCounty.gql(LOG)).data.auditLog.totalCount, 0, 'another county sees none of it')
  const sameCounty = app.as({ sub: uniqueSub(), role: 'AUDITOR', region: '411224' })
  t.same((await sameCounty.gql(LOG)).data.auditLog.edges.map((e: { node: { entityId: string } }) => e.node.entityId), ['411224101215'], 'only the entry in its area')
  t.match((await sameCounty.gql(VERIFY)).data.verifyAuditChain, { valid: true, checked: 2 }, 'verification covers the whole log (it discloses no content)')
  t.equal((await sameCounty.get('/api/v1/audit/log')).statusCode, 403, 'the export needs city level or above')
  t.equal((await admin.gql(LOG)).data.auditLog.totalCount, 2)
})

t.test('the export: positions in order with their leaf hashes, entries outside the area as hashes only; from/to validated', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await changeRegions(admin, ['411224101208', '411203'], 7)
  // An entry of another city (as a provincial system sharing the log would write).
  await app.database.db.transaction(async (tx) => { await recordAudit(tx, { sub: 'province', role: 'ADMIN' }, new Date(), { action: 'region.update', entity: 'Region', entityId: '411302', regionCode: '411302', after: { ruralPopulation: 7 } }) })
  await app.sequenced()
  const lines = await exported(admin)
  t.same(lines.map(l => l.seq), [1, 2, 3])
  t.same(Object.keys(lines[0]!).sort(), ['action', 'actorRole', 'actorSub', 'after', 'at', 'before', 'entity', 'entityId', 'leafHash', 'regionCode', 'seq', 'source'])
  t.same(lines[2], { seq: 3, leafHash: lines[2]!.leafHash }, 'the other city\'s entry: its position and hash only')
  for (const l of lines.slice(0, 2)) {
    const { leafHash: leaf, ...entry } = l
    t.equal(leafHash(entry).toString('hex'), leaf, `position ${l.seq}: leaf = SHA-256(0x00 ‖ JCS(entry))`)
  }
  t.same((await exported(admin, '?from=2&to=2')).map(l => l.seq), [2])
  t.same((await exported(admin, '?from=2&to=99')).map(l => l.seq), [2, 3], 'to beyond the log stops at its end')
  const bad = await admin.get('/api/v1/audit/log?from=3&to=2')
  t.equal(bad.statusCode, 400)
  t.same(bad.json().errors.map((e: { path: string }) => e.path), ['querystring.to'])
  t.equal((await admin.get('/api/v1/audit/log?from=0')).statusCode, 400)
  t.equal((await admin.get('/api/v1/audit/log?from=x')).statusCode, 400)
})

t.test('signed tree heads: Ed25519 over the canonical head, keys served without a token, a new head when the latest falls behind', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const keys = await app.app.inject({ method: 'GET', url: '/.well-known/audit-keys.json' })
  t.equal(keys.statusCode, 200, 'no token needed')
  t.match(keys.headers['content-type'], /application\/jwk-set\+json/)
  const jwks = keys.json()
  t.match(jwks.keys[0], { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
  t.notOk('d' in jwks.keys[0], 'the private part is not served')

  const empty: TreeHead = (await admin.gql(HEAD)).data.auditTreeHead
  t.match(empty, { treeSize: 0, rootHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }, 'the empty tree: SHA-256 of nothing')
  await changeRegions(admin, ['411224101201', '411224101202'])
  await app.sequenced()
  const head: TreeHead = (await admin.gql(HEAD)).data.auditTreeHead
  t.equal(head.treeSize, 2, 'signed anew: the latest head did not cover every entry')
  t.equal(headProblem(head, parsePublicKeys(keys.body)), null, 'the signature verifies with the served key')
  t.same((await admin.get('/api/v1/audit/tree-head')).json(), head, 'REST gives the same head')
  t.not(headProblem({ ...head, treeSize: 1 }, parsePublicKeys(keys.body)), null, 'a changed head fails')
  const [{ n }] = await queryRows<{ n: number }>(app.database.db, sql`SELECT count(*)::int AS n FROM audit_tree_heads`) as [{ n: number }]
  t.ok(n >= 2, 'heads are kept')
  t.match(await failure(app.database.db.execute(sql`DELETE FROM audit_tree_heads`)), /append-only/)
})

t.test('inclusion and consistency proofs verify by RFC 9162 against the signed roots; bad positions are BAD_USER_INPUT naming the field', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await changeRegions(admin, ['411224101200', '411224101201', '411224101202'])
  await app.sequenced()
  const first: TreeHead = (await admin.gql(HEAD)).data.auditTreeHead
  await changeRegions(admin, ['411224101204', '411224101205', '411224101206', '411224101207'])
  await app.sequenced()
  const second: TreeHead = (await admin.gql(HEAD)).data.auditTreeHead
  t.same([first.treeSize, second.treeSize], [3, 7])
  const root = Buffer.from(second.rootHash, 'hex')
  for (let seq = 1; seq <= 7; seq++) {
    const p = (await admin.gql('query ($s: Int!) { auditInclusionProof(seq: $s) { seq treeSize leafHash path } }', { s: seq })).data.auditInclusionProof
    t.equal(p.treeSize, 7, 'against the latest head by default')
    t.ok(verifyInclusion(seq - 1, 7, Buffer.from(p.leafHash, 'hex'), p.path.map((h: string) => Buffer.from(h, 'hex')), root), `position ${seq} is in the tree`)
  }
  const old = (await admin.get('/api/v1/audit/proofs/inclusion?seq=2&treeSize=3')).json()
  t.ok(verifyInclusion(1, 3, Buffer.from(old.leafHash, 'hex'), old.path.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(first.rootHash, 'hex')), 'and in the older tree')
  const proof = (await admin.gql('{ auditConsistencyProof(first: 3, second: 7) }')).data.auditConsistencyProof.map((h: string) => Buffer.from(h, 'hex'))
  t.ok(verifyConsistency(3, 7, proof, Buffer.from(first.rootHash, 'hex'), root), 'the older tree is a prefix of the newer')
  t.notOk(verifyConsistency(3, 7, proof, Buffer.from(first.rootHash.replace(/^./, c => c === '0' ? '1' : '0'), 'hex'), root), 'not for another root')
  const rest = (await admin.get('/api/v1/audit/proofs/consistency?first=3&second=7')).json()
  t.same(rest, { first: 3, second: 7, proof: proof.map((b: Buffer) => b.toString('hex')) })

  const fields = async (q: string): Promise<unknown> => (await admin.gql(q)).errors?.[0]?.extensions.fields?.map(f => f.path)
  t.same(await fields('{ auditInclusionProof(seq: 0) { seq } }'), ['seq'])
  t.same(await fields('{ auditInclusionProof(seq: 5, treeSize: 3) { seq } }'), ['seq'])
  t.same(await fields('{ auditInclusionProof(seq: 1, treeSize: 99) { seq } }'), ['treeSize'])
  t.same(await fields('{ auditConsistencyProof(first: 4, second: 3) }'), ['first'])
  t.same(await fields('{ auditConsistencyProof(first: 1, second: 99) }'), ['second'])
  const badRest = await admin.get('/api/v1/audit/proofs/inclusion?seq=1&treeSize=99')
  t.equal(badRest.statusCode, 400)
  t.same(badRest.json().errors.map((e: { path: string }) => e.path), ['querystring.treeSize'])
  t.equal((await admin.get('/api/v1/audit/proofs/inclusion')).statusCode, 400, 'seq is required')
})

t.test('verifyAuditChain costs the whole query budget: aliases cannot multiply it', async (t) => {
  const app = await buildApp(t)
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  t.equal((await admin.gql('{ verifyAuditChain { valid } }')).errors, undefined, 'one is allowed')
  const two = await admin.gql('{ a: verifyAuditChain { valid } b: verifyAuditChain { valid } }')
  t.match(two.errors?.[0], { extensions: { code: 'BAD_USER_INPUT', limit: 'cost' } })
  const many = await admin.gql(`{ ${Array.from({ length: 30 }, (_, i) => `v${i}: verifyAuditChain { valid }`).join(' ')} }`)
  t.match(many.errors?.[0], { extensions: { code: 'BAD_USER_INPUT', limit: 'cost' } })
})

t.test('an entry rolls back with its change', async (t) => {
  const database = await freshDatabase()
  await t.rejects(database.db.transaction(async (tx) => {
    await recordAudit(tx, { sub: 'x', role: 'ADMIN' }, new Date(), { action: 'test.fail', entity: 'Region', entityId: '4112', regionCode: '4112' })
    throw new Error('the change failed')
  }), /the change failed/)
  t.equal((await queryRows(database.db, sql`SELECT id FROM audit_events WHERE action = 'test.fail'`)).length, 0)
})

t.test('the tables refuse UPDATE, DELETE and TRUNCATE; an alteration behind the triggers\' back is found', async (t) => {
  const database = await freshDatabase()
  const app = await buildApp(t, { database })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await changeRegions(admin, ['411224101210', '411224101211', '411224101212'], 300)
  await app.sequenced()
  const head: TreeHead = (await admin.gql(HEAD)).data.auditTreeHead
  t.match((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: true, checked: 3 })
  for (const table of ['audit_events', 'audit_log', 'audit_tree_nodes', 'audit_tree_heads']) {
    const column = { audit_events: 'action', audit_log: 'region_code', audit_tree_nodes: 'level', audit_tree_heads: 'key_id' }[table]!
    t.match(await failure(database.db.execute(sql.raw(`UPDATE ${table} SET ${column} = ${column}`))), /append-only/, `${table}: UPDATE refused`)
    t.match(await failure(database.db.execute(sql.raw(`DELETE FROM ${table}`))), /append-only/, `${table}: DELETE refused`)
    t.match(await failure(database.db.execute(sql.raw(`TRUNCATE ${table}`))), /append-only/, `${table}: TRUNCATE refused`)
  }
  const second = sql`(SELECT entry_id FROM audit_log WHERE seq = 2)`
  const [entry] = await queryRows<{ id: string }>(database.db, sql`SELECT ${second}::text AS id`)

  await tamper(database, 'audit_events', `UPDATE audit_events SET after = '{"ruralPopulation": 3}' WHERE id = ${entry!.id}`)
  t.match((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: false, checked: 1, firstInvalid: 2, problem: /altered/ }, 'an altered entry is found at its position')
  await tamper(database, 'audit_events', `UPDATE audit_events SET after = '{"ruralPopulation": 300}' WHERE id = ${entry!.id}`)
  t.match((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: true }, 'put back, it verifies again')

  // The leaf recomputed and stored with the alteration: the tree's nodes and the signed head still hold the old root.
  await tamper(database, 'audit_events', `UPDATE audit_events SET after = '{"ruralPopulation": 4}' WHERE id = ${entry!.id}`)
  const [row] = await exported(admin, '?from=2&to=2')
  const { leafHash: _old, ...altered } = row!
  await tamper(database, 'audit_log', `UPDATE audit_log SET leaf_hash = decode('${leafHash(altered).toString('hex')}', 'hex') WHERE seq = 2`)
  t.match((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: false, problem: /the head of size \d names another root/ }, 'the signed heads no longer match')
  const forgedLog = (await exported(admin)).map(l => JSON.stringify(l))
  t.match(await verifyExport(forgedLog, head, await keysOf(app)), { ok: false, position: null, reason: /signed root/ }, 'the head kept elsewhere catches it offline')

  // A removed entry leaves its position empty.
  await tamper(database, 'audit_events', `DELETE FROM audit_events WHERE id = ${entry!.id}`)
  t.match((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: false, checked: 1, firstInvalid: 2, problem: /missing/ })
})

t.test('a forged head is found by verification and offline', async (t) => {
  const database = await freshDatabase()
  const app = await buildApp(t, { database })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await changeRegions(admin, ['411224101218'])
  await app.sequenced()
  const head: TreeHead = (await admin.gql(HEAD)).data.auditTreeHead
  await tamper(database, 'audit_tree_heads', `UPDATE audit_tree_heads SET signature = '${Buffer.alloc(64, 1).toString('base64url')}' WHERE tree_size = 1`)
  t.match((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: false, problem: /head of size 1: the signature does not match/ })
  const lines = (await exported(admin)).map(l => JSON.stringify(l))
  t.match(await verifyExport(lines, { ...head, rootHash: '0'.repeat(64) }, await keysOf(app)), { ok: false, position: null, reason: /tree head: the signature/ })
})

t.test('auditLog pages forward (older) and backward (newer) with Relay cursors, the two readings agreeing', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await changeRegions(admin, ['411224101200', '411224101201', '411224101202', '411224101204', '411224101205', '411224101206', '411224101207'])
  await app.sequenced()
  const auditor = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '4112' })
  for (const size of [1, 2, 3, 7, 50]) {
    const seqs = await pageBothWays(t, auditor, { field: 'auditLog', args: ['$f: AuditFilter', 'filter: $f'], variables: { f: { entity: 'Region' } }, select: 'seq', idOf: n => n.seq }, size)
    t.same(seqs, ['7', '6', '5', '4', '3', '2', '1'], `size ${size}: newest first`)
  }
  t.same((await auditor.gql('{ auditLog(first: 1, last: 1) { totalCount } }')).errors?.[0]?.extensions.fields?.map(f => f.path), ['last'])
  t.same((await auditor.gql('{ auditLog(last: 1, before: "x") { totalCount } }')).errors?.[0]?.extensions.fields?.map(f => f.path), ['before'])
})

t.test('a record\'s history: entityId, alone or with its entity, lists that record\'s entries newest first, paged both ways, in the caller\'s area only', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  // Three changes of one village, between changes of others.
  for (const value of [1, 2, 3]) await changeRegions(admin, ['411224101201', '411224101206', '411224101202'], value)
  await app.sequenced()
  const auditor = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '411224' })
  for (const filter of [{ entityId: '411224101206' }, { entity: 'Region', entityId: '411224101206' }]) {
    for (const size of [1, 2, 50]) {
      const seqs = await pageBothWays(t, auditor, { field: 'auditLog', args: ['$f: AuditFilter', 'filter: $f'], variables: { f: filter }, select: 'seq', idOf: n => n.seq }, size)
      t.same(seqs, ['8', '5', '2'], `${JSON.stringify(filter)}, size ${size}: its three entries, newest first`)
    }
  }
  const history = (await auditor.gql(LOG, { filter: { entityId: '411224101206' } })).data.auditLog
  t.same(history.edges.map((e: { node: { after: unknown } }) => e.node.after), [{ ruralPopulation: 3 }, { ruralPopulation: 2 }, { ruralPopulation: 1 }])
  t.equal((await auditor.gql(LOG, { filter: { entity: 'Member', entityId: '411224101206' } })).data.auditLog.totalCount, 0, 'another entity kind: none')
  const today = new Date().toISOString().slice(0, 10)
  t.equal((await auditor.gql(LOG, { filter: { entityId: '411224101206', from: today } })).data.auditLog.totalCount, 3, 'from today: all three')
  t.equal((await auditor.gql(LOG, { filter: { entityId: '411224101206', to: '2020-01-01' } })).data.auditLog.totalCount, 0, 'to 2020: none')
  // An auditor of another county sees none of it, nor its count.
  const elsewhere = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '411282' })
  const hidden = (await elsewhere.gql(LOG, { filter: { entityId: '411224101206' } })).data.auditLog
  t.same({ total: hidden.totalCount, edges: hidden.edges }, { total: 0, edges: [] }, 'another county: nothing')
})

t.test('one person\'s actions: actorSub lists that user\'s entries newest first, paged both ways, of a period, in the caller\'s area only', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const sub = uniqueSub('clerk')
  const clerk = app.as({ sub, role: 'ADMIN', region: '4112' })
  const other = app.as({ sub: uniqueSub('other'), role: 'ADMIN', region: '4112' })
  // The clerk's three changes between another user's.
  for (const value of [1, 2, 3]) {
    await changeRegions(other, ['411224101201'], value)
    await changeRegions(clerk, ['411224101206'], value)
  }
  await app.sequenced()
  const auditor = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '411224' })
  for (const size of [1, 2, 50]) {
    const seqs = await pageBothWays(t, auditor, { field: 'auditLog', args: ['$f: AuditFilter', 'filter: $f'], variables: { f: { actorSub: sub } }, select: 'seq', idOf: n => n.seq }, size)
    t.same(seqs, ['6', '4', '2'], `size ${size}: the clerk's three entries, newest first`)
  }
  const log = (await auditor.gql(LOG, { filter: { actorSub: sub } })).data.auditLog
  t.same(log.edges.map((e: { node: { actorSub: string, after: unknown } }) => [e.node.actorSub, e.node.after]),
    [[sub, { ruralPopulation: 3 }], [sub, { ruralPopulation: 2 }], [sub, { ruralPopulation: 1 }]])
  t.equal((await auditor.gql(LOG, { filter: { actorSub: sub, entity: 'Member' } })).data.auditLog.totalCount, 0, 'another entity kind: none')
  const today = new Date().toISOString().slice(0, 10)
  t.equal((await auditor.gql(LOG, { filter: { actorSub: sub, from: today } })).data.auditLog.totalCount, 3, 'from today: all three')
  t.equal((await auditor.gql(LOG, { filter: { actorSub: sub, to: '2020-01-01' } })).data.auditLog.totalCount, 0, 'to 2020: none')
  const elsewhere = app.as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '411282' })
  const hidden = (await elsewhere.gql(LOG, { filter: { actorSub: sub } })).data.auditLog
  t.same({ total: hidden.totalCount, edges: hidden.edges }, { total: 0, edges: [] }, 'another county: nothing')
})

t.test('a record\'s history and a person\'s few actions are found by the entries\' indexes, not by walking the area\'s log, and page the same either way; an area\'s count reads positions alone; a period reads its months (the plans, on the machine\'s PostgreSQL, 30,000 entries)', async (t) => {
  const { url } = await machinePgDatabase()
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 1 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  // A long log of one area (positions given directly: only the plan is looked at), and a record with three entries in it.
  await database.db.execute(sql`INSERT INTO audit_events (at, actor_sub, actor_role, action, entity, entity_id, region_code)
    SELECT now(), CASE WHEN g % 10000 = 5 THEN 'the-clerk' ELSE 'load' END, 'OPERATOR', 'member.update', 'Member', CASE WHEN g % 10000 = 0 THEN 'the-record' ELSE 'm-' || g END, '411224101201' FROM generate_series(1, 30000) g`)
  await database.db.execute(sql`INSERT INTO audit_log (seq, entry_id, at, region_code, leaf_hash)
    SELECT row_number() OVER (ORDER BY id), id, at, region_code, sha256(id::text::bytea) FROM audit_events`)
  await database.db.execute(sql`ANALYZE audit_events`)
  await database.db.execute(sql`ANALYZE audit_log`)
  const [{ month }] = await queryRows<{ month: string }>(database.db, sql`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM') AS month`) as [{ month: string }]
  const principal: Principal = { sub: 'auditor', role: 'AUDITOR', regionCode: '4112', level: 'CITY', dept: null }
  for (const q of [{ entityId: 'the-record' }, { entity: 'Member', entityId: 'the-record' }]) {
    t.equal(await readFrom(database.db, q), 'entries')
    const nodes = await planNodes(database.db, listInAreaQuery(principal, q, { after: null, before: null, backward: false }, 51, 'entries'))
    const indexes = nodes.flatMap(n => n['Index Name'] ?? [])
    t.ok(indexes.includes(`audit_events_${month}_entity_id_id_idx`), `${JSON.stringify(q)}: the record's entries by the entity_id index (${indexes.join(', ')})`)
    t.same(indexes.filter(i => /^audit_log_.*_(pkey|region_code_seq_idx)$/.test(i)), [], `${JSON.stringify(q)}: no walk of the log's positions`)
    t.same(nodes.filter(n => n['Node Type'] === 'Seq Scan' && n['Relation Name']?.endsWith(month) === true).map(n => n['Relation Name']), [], `${JSON.stringify(q)}: no scan of the month's entries or positions`)
  }
  const found = await queryRows(database.db, listInAreaQuery(principal, { entityId: 'the-record' }, { after: null, before: null, backward: false }, 51, 'entries'))
  t.equal(found.length, 3, 'and it finds the record\'s three entries')
  // A person with few entries: from theirs, by the actor_sub index; one with many: by walking the log.
  t.equal(await readFrom(database.db, { actorSub: 'the-clerk' }), 'entries')
  t.equal(await readFrom(database.db, { actorSub: 'load' }), 'positions', `more than ${ACTOR_ENTRIES_FIRST} entries: the walk`)
  const clerk = await planNodes(database.db, listInAreaQuery(principal, { actorSub: 'the-clerk' }, { after: null, before: null, backward: false }, 51, 'entries'))
  const clerkIndexes = clerk.flatMap(n => n['Index Name'] ?? [])
  t.ok(clerkIndexes.includes(`audit_events_${month}_actor_sub_at_idx`), `a person's entries by the actor_sub index (${clerkIndexes.join(', ')})`)
  t.same(clerkIndexes.filter(i => /^audit_log_.*_(pkey|region_code_seq_idx)$/.test(i)), [], 'no walk of the log\'s positions')
  t.same(clerk.filter(n => n['Node Type'] === 'Seq Scan' && n['Relation Name']?.endsWith(month) === true).map(n => n['Relation Name']), [], 'no scan of the month\'s entries or positions')
  // Either way a page holds the same entries, with any cursor, a period and either direction.
  const seqs = (rows: Array<{ seq: string }>): string[] => rows.map(r => r.seq)
  for (const q of [{ actorSub: 'the-clerk' }, { actorSub: 'load' }, { actorSub: 'the-clerk', entity: 'Member', from: new Date(Date.now() - 3600_000) }]) {
    for (const range of [{ after: null, before: null, backward: false }, { after: 25_000n, before: null, backward: false }, { after: null, before: 15_000n, backward: true }]) {
      const [a, b] = await Promise.all((['entries', 'positions'] as const).map(async from => seqs(await queryRows<{ seq: string }>(database.db, listInAreaQuery(principal, q, range, 7, from)))))
      t.same(a, b, `${JSON.stringify(q)} ${JSON.stringify(range, (_, v) => typeof v === 'bigint' ? String(v) : v)}: the same page from the entries as from the positions (${a!.join(', ')})`)
    }
  }
  t.equal(await countInArea(database.db, principal, { actorSub: 'the-clerk' }), 3)
  t.equal(await countInArea(database.db, principal, { actorSub: 'load' }), 29_997)
  const clerkCount = await planNodes(database.db, countInAreaQuery(principal, { actorSub: 'the-clerk' }))
  t.same(clerkCount.flatMap(n => n['Index Name'] ?? []).filter(i => /^audit_log_.*_(pkey|region_code_seq_idx)$/.test(i)), [], 'a person\'s count: from their entries')
  const count = await planNodes(database.db, countInAreaQuery(principal, {}))
  t.same(count.flatMap(n => n['Relation Name']?.startsWith('audit_events') === true ? [n['Relation Name']] : []), [], 'the area\'s count: positions alone, no entry looked up')
  t.equal(await countInArea(database.db, principal, {}), 30_000)
  // A period prunes the log's months: from next month on, this month's positions are not read.
  const now = new Date()
  const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1))
  const later = await planNodes(database.db, listInAreaQuery(principal, { actorSub: 'load', from: nextMonth }, { after: null, before: null, backward: false }, 51, 'positions'))
  t.notOk(later.some(n => n['Relation Name'] === `audit_log_${month}`), `from next month: no read of this month's positions (${later.flatMap(n => n['Relation Name'] ?? []).join(', ')})`)
  const laterEntries = await planNodes(database.db, listInAreaQuery(principal, { actorSub: 'the-clerk', from: nextMonth }, { after: null, before: null, backward: false }, 51, 'entries'))
  t.notOk(laterEntries.some(n => n['Relation Name'] === `audit_events_${month}`), `from next month: no read of this month's entries (${laterEntries.flatMap(n => n['Relation Name'] ?? []).join(', ')})`)
})

t.test('/metrics: the audit log\'s pending entries, size and sequencer', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  await changeRegions(admin, ['411224101200', '411224101201'])
  await app.sequenced()
  const text = (await admin.get('/metrics')).body
  t.match(text, /^audit_pending_entries 0$/m)
  t.match(text, /^audit_tree_size 2$/m)
  t.match(text, /^audit_sequencer_leading 1$/m, 'this process sequences')
  t.match(text, /^audit_sequencing_lag_seconds \d/m)
})
