import { sql } from 'drizzle-orm'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { recordAudit } from '../src/modules/audit/audit-service.js'
import { buildApp, freshDatabase, uniqueSub } from './helper.js'

/** The database's own message of a failed statement (drizzle wraps it as the cause). */
async function failure (p: Promise<unknown>): Promise<string> {
  try { await p } catch (err) { return String((err as { cause?: Error }).cause?.message ?? (err as Error).message) }
  return 'no error'
}

const UPDATE = `mutation ($code: String!, $v: Int!, $input: RegionPatch!) { updateRegion(code: $code, expectedVersion: $v, input: $input) { version } }`
const LOG = `query ($filter: AuditFilter, $first: Int, $after: String) { auditLog(filter: $filter, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { seq at actorSub actorRole action entity entityId source before after } } } }`
const VERIFY = '{ verifyAuditChain { valid checked } }'

t.test('each change writes one chained entry; auditLog pages newest first; the chain verifies', async (t) => {
  const { as } = await buildApp(t, { database: await freshDatabase() })
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const villages = ['411224101206', '411224101207', '411224101208']
  for (const code of villages) {
    t.equal((await admin.gql(UPDATE, { code, v: 1, input: { ruralPopulation: 100 } })).errors, undefined)
  }
  const auditor = as({ sub: uniqueSub('auditor'), role: 'AUDITOR', region: '411224' })
  const page1 = await auditor.gql(LOG, { filter: { entity: 'Region' }, first: 2 })
  t.equal(page1.errors, undefined)
  const log1 = page1.data.auditLog
  t.equal(log1.totalCount, 3)
  t.equal(log1.pageInfo.hasNextPage, true)
  t.same(log1.edges.map((e: { node: { entityId: string } }) => e.node.entityId), ['411224101208', '411224101207'])
  t.match(log1.edges[0].node, { seq: '3', actorRole: 'ADMIN', action: 'region.update', entity: 'Region', before: { ruralPopulation: null }, after: { ruralPopulation: 100 } })
  const page2 = await auditor.gql(LOG, { filter: { entity: 'Region' }, first: 2, after: log1.pageInfo.endCursor })
  t.same(page2.data.auditLog.edges.map((e: { node: { entityId: string } }) => e.node.entityId), ['411224101206'])
  t.equal(page2.data.auditLog.pageInfo.hasNextPage, false)

  const byEntity = await auditor.gql(LOG, { filter: { entityId: '411224101207' } })
  t.equal(byEntity.data.auditLog.totalCount, 1)
  const byActor = await auditor.gql(LOG, { filter: { actorSub: 'nobody' } })
  t.equal(byActor.data.auditLog.totalCount, 0)
  const today = new Date().toISOString().slice(0, 10)
  const byDate = await auditor.gql(LOG, { filter: { from: today, to: '2999-01-01' } })
  t.equal(byDate.data.auditLog.totalCount, 3)
  const badDate = await auditor.gql(LOG, { filter: { from: 'yesterday' } })
  t.equal(badDate.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.same(badDate.errors?.[0]?.extensions.fields?.map(f => f.path), ['filter.from'])
  const badCursor = await auditor.gql(LOG, { after: 'bm90LWEtY3Vyc29y' })
  t.same(badCursor.errors?.[0]?.extensions.fields?.map(f => f.path), ['after'])
  const badFirst = await auditor.gql(LOG, { first: 500 })
  t.same(badFirst.errors?.[0]?.extensions.fields?.map(f => f.path), ['first'])

  t.same((await auditor.gql(VERIFY)).data.verifyAuditChain, { valid: true, checked: 3 })
})

t.test('auditLog and verifyAuditChain: ADMIN and AUDITOR only, entries of their area only', async (t) => {
  const { as } = await buildApp(t, { database: await freshDatabase() })
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  t.equal((await admin.gql(UPDATE, { code: '411224101215', v: 1, input: { ruralPopulation: 5 } })).errors, undefined)
  t.equal((await admin.gql(UPDATE, { code: '411203', v: 1, input: { ruralPopulation: 5 } })).errors, undefined)

  for (const role of ['VIEWER', 'OPERATOR', 'REVIEWER']) {
    const res = await as({ sub: uniqueSub(), role, region: '4112' }).gql(LOG)
    t.equal(res.errors?.[0]?.extensions.code, 'FORBIDDEN', `${role} may not read the audit log`)
    const v = await as({ sub: uniqueSub(), role, region: '4112' }).gql(VERIFY)
    t.equal(v.errors?.[0]?.extensions.code, 'FORBIDDEN', `${role} may not verify the chain`)
  }
  const otherCounty = as({ sub: uniqueSub(), role: 'AUDITOR', region: '411282' })
  t.equal((await otherCounty.gql(LOG)).data.auditLog.totalCount, 0, 'another county sees none of it')
  const sameCounty = as({ sub: uniqueSub(), role: 'AUDITOR', region: '411224' })
  const seen = (await sameCounty.gql(LOG)).data.auditLog
  t.same(seen.edges.map((e: { node: { entityId: string } }) => e.node.entityId), ['411224101215'], 'only the entry in its area')
  t.same((await sameCounty.gql(VERIFY)).data.verifyAuditChain, { valid: true, checked: 1 })
  const city = as({ sub: uniqueSub(), role: 'ADMIN', region: '4112' })
  t.equal((await city.gql(LOG)).data.auditLog.totalCount, 2)
})

t.test('an entry rolls back with its change', async (t) => {
  const database = await freshDatabase()
  await t.rejects(database.db.transaction(async (tx) => {
    await recordAudit(tx, { sub: 'x', role: 'ADMIN' }, new Date(), { action: 'test.fail', entity: 'Region', entityId: '4112', regionCode: '4112' })
    throw new Error('the change failed')
  }), /the change failed/)
  const rows = await queryRows(database.db, sql`SELECT seq FROM audit_events WHERE action = 'test.fail'`)
  t.equal(rows.length, 0)
})

t.test('the table refuses UPDATE and DELETE; tampering directly in SQL makes verification fail', async (t) => {
  const database = await freshDatabase()
  const { as } = await buildApp(t, { database })
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  for (const code of ['411224101210', '411224101211', '411224101212']) {
    t.equal((await admin.gql(UPDATE, { code, v: 1, input: { ruralPopulation: 300 } })).errors, undefined)
  }
  t.same((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: true, checked: 3 })
  t.match(await failure(database.db.execute(sql`UPDATE audit_events SET after = '{"ruralPopulation": 3}' WHERE seq = 2`)), /append-only/)
  t.match(await failure(database.db.execute(sql`DELETE FROM audit_events WHERE seq = 2`)), /append-only/)
  t.match(await failure(database.db.execute(sql`TRUNCATE audit_events`)), /append-only/)

  // Someone with the power to switch the trigger off alters an entry.
  await database.db.transaction(async (tx) => {
    await tx.execute(sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`)
    await tx.execute(sql`UPDATE audit_events SET after = '{"ruralPopulation": 3}' WHERE seq = 2`)
    await tx.execute(sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`)
  })
  t.same((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: false, checked: 2 }, 'the altered entry is found')

  // Recomputing that entry's hash does not help: the next entry's link breaks.
  const [row] = await queryRows<Record<string, unknown>>(database.db, sql`SELECT * FROM audit_events WHERE seq = 2`)
  const { entryHash } = await import('../src/modules/audit/audit-chain.js')
  const forged = entryHash({
    seq: 2n, at: new Date(row!.at as string), actorSub: row!.actor_sub as string, actorRole: row!.actor_role as string,
    action: row!.action as string, entity: row!.entity as string, entityId: row!.entity_id as string,
    regionCode: row!.region_code as string, source: null, before: row!.before, after: row!.after, prevHash: row!.prev_hash as string
  })
  await database.db.transaction(async (tx) => {
    await tx.execute(sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`)
    await tx.execute(sql`UPDATE audit_events SET hash = ${forged} WHERE seq = 2`)
    await tx.execute(sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`)
  })
  t.same((await admin.gql(VERIFY)).data.verifyAuditChain, { valid: false, checked: 3 }, 'the broken link is found')

  // A deleted entry breaks the link of the one after it.
  const other = await freshDatabase()
  const second = await buildApp(t, { database: other })
  const admin2 = second.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  for (const code of ['411224101213', '411224101214']) await admin2.gql(UPDATE, { code, v: 1, input: { ruralPopulation: 1 } })
  await other.db.transaction(async (tx) => {
    await tx.execute(sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`)
    await tx.execute(sql`DELETE FROM audit_events WHERE seq = 1`)
    await tx.execute(sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`)
  })
  t.same((await admin2.gql(VERIFY)).data.verifyAuditChain, { valid: false, checked: 1 })
})
