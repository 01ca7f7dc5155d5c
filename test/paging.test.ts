import t from 'tap'
import { householdInput } from './fixtures.js'
import { buildApp, uniqueSub } from './helper.js'
import { pageBothWays } from './paging.js'

// This file's database holds only what its tests create.
const VILLAGE = '411224101201' // 龙王庙村
const SIBLING = '411224101202' // 郭家村

const CREATE = 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }'

t.test('households page forward and back (Relay first/after, last/before) over keyset cursors, and agree', async (t) => {
  const { as } = await buildApp(t)
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const siblingOp = as({ sub: uniqueSub('sop'), role: 'OPERATOR', region: SIBLING })
  const created: string[] = []
  for (let i = 0; i < 7; i++) {
    const res = await op.gql(CREATE, { i: householdInput(VILLAGE, i % 2 === 0 ? { mainCause: 'DISASTER' } : {}) })
    if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
    created.push(res.data.createHousehold.id)
  }
  await siblingOp.gql(CREATE, { i: householdInput(SIBLING, { mainCause: 'DISASTER' }) })
  const list = { field: 'households', args: ['$f: HouseholdFilter', 'filter: $f'] as [string, string], select: 'id', idOf: (n: any) => n.id as string }

  for (const size of [1, 2, 3, 7, 50]) {
    t.same(await pageBothWays(t, op, list, size), [...created].sort(), `pages of ${size}: every household in area, by id`)
  }
  // A filter holds on every page either way; the sibling village's household is not in area.
  const disasters = await pageBothWays(t, op, { ...list, variables: { f: { mainCause: 'DISASTER' } } }, 2)
  t.same(disasters, created.filter((_, i) => i % 2 === 0).sort())

  // Both bounds: the items strictly between the two cursors, from either end.
  const all = (await op.gql('{ households(first: 50) { edges { cursor node { id } } } }')).data.households.edges
  const between = 'query ($a: String, $b: String, $first: Int, $last: Int) { households(after: $a, before: $b, first: $first, last: $last) { edges { node { id } } } }'
  const ids = (res: any): string[] => res.data.households.edges.map((e: any) => e.node.id)
  t.same(ids(await op.gql(between, { a: all[1].cursor, b: all[5].cursor, first: 10 })), all.slice(2, 5).map((e: any) => e.node.id))
  t.same(ids(await op.gql(between, { a: all[1].cursor, b: all[5].cursor, last: 2 })), all.slice(3, 5).map((e: any) => e.node.id))

  // Bad arguments are BAD_USER_INPUT naming the argument.
  const fields = async (doc: string): Promise<unknown> => (await op.gql(doc)).errors?.map(e => [e.extensions.code, e.extensions.fields?.map(f => f.path)])
  t.same(await fields('{ households(first: 2, last: 2) { totalCount } }'), [['BAD_USER_INPUT', ['last']]])
  t.same(await fields('{ households(last: 0) { totalCount } }'), [['BAD_USER_INPUT', ['last']]])
  t.same(await fields('{ households(last: 201) { totalCount } }'), [['BAD_USER_INPUT', ['last']]])
  t.same(await fields('{ households(last: 2, before: "bm90IGEgY3Vyc29y") { totalCount } }'), [['BAD_USER_INPUT', ['before']]])
})

t.test('REST pages forward only, as before: limit and cursor', async (t) => {
  const { as } = await buildApp(t)
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const page = (await op.get('/api/v1/households?limit=1')).json()
  t.equal(page.items.length, 1)
  t.type(page.nextCursor, 'string')
  const gql = (await op.gql('{ households(first: 1) { pageInfo { endCursor } } }')).data.households.pageInfo.endCursor
  t.equal(page.nextCursor, gql, 'the same cursor as GraphQL')
})

t.test('a township pages village by village: every household of its villages, in id order, either way, filters held', async (t) => {
  // A township's page is read from each of its villages in turn (households-repository.ts `list`).
  const { as } = await buildApp(t)
  const TOWNSHIP = '411224102'
  const villages = ['411224102001', '411224102200', '411224102201']
  const county = as({ sub: uniqueSub('cop'), role: 'OPERATOR', region: '411224' })
  const created: Array<{ id: string, disaster: boolean }> = []
  for (let i = 0; i < 9; i++) {
    const disaster = i % 3 === 0
    const res = await county.gql(CREATE, { i: householdInput(villages[i % 3]!, disaster ? { mainCause: 'DISASTER' } : {}) })
    if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
    created.push({ id: res.data.createHousehold.id, disaster })
  }
  // Another township's household, in the county operator's area but not in the township.
  await county.gql(CREATE, { i: householdInput('411224103001') })

  const township = as({ sub: uniqueSub('top'), role: 'OPERATOR', region: TOWNSHIP })
  const list = { field: 'households', args: ['$f: HouseholdFilter', 'filter: $f'] as [string, string], select: 'id', idOf: (n: any) => n.id as string }
  const all = created.map(c => c.id).sort()
  for (const size of [1, 2, 4, 9, 50]) {
    t.same(await pageBothWays(t, township, list, size), all, `pages of ${size} of the township's own area`)
  }
  t.same(await pageBothWays(t, county, { ...list, variables: { f: { regionCode: TOWNSHIP } } }, 2), all, 'the township asked for by a county operator')
  t.same(await pageBothWays(t, county, { ...list, variables: { f: { regionCode: TOWNSHIP, mainCause: 'DISASTER' } } }, 2),
    created.filter(c => c.disaster).map(c => c.id).sort(), 'a filter holds on every page')
  t.same(await pageBothWays(t, township, { ...list, variables: { f: { regionCode: villages[1] } } }, 2),
    created.filter((_, i) => i % 3 === 1).map(c => c.id).sort(), 'one village')

  // Outside the caller's area: refused, not an empty page.
  const other = as({ sub: uniqueSub('oop'), role: 'OPERATOR', region: '411224103' })
  const refused = await other.gql('query ($f: HouseholdFilter) { households(filter: $f, first: 5) { edges { node { id } } } }', { f: { regionCode: TOWNSHIP } })
  t.equal(refused.errors?.[0]?.extensions.code, 'FORBIDDEN')
})
