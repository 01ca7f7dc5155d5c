import { readFileSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import { buildSchema, parse } from 'graphql'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import { checkCost, GRAPHQL_LIMITS } from '../src/infra/graphql-limits.js'
import { paths } from '../src/paths.js'
import { householdInput } from './fixtures.js'
import { buildApp, testConfig, token, uniqueSub } from './helper.js'

const VILLAGE = '411224101201'
const ADMIN = { sub: 'limits-admin', role: 'ADMIN', region: '4112' } as const

t.test('depth, aliases, tokens and cost are refused before any resolver runs, with BAD_USER_INPUT naming the limit', async (t) => {
  const { as, database } = await buildApp(t)
  const admin = as({ ...ADMIN, sub: uniqueSub('admin') })
  const count = async (): Promise<unknown> => await queryRows(database.db, sql`SELECT (SELECT count(*) FROM households) AS h, (SELECT count(*) FROM audit_events) AS a`)
  const before = await count()

  const deep = `{ region(code: "41") { ${'children { '.repeat(GRAPHQL_LIMITS.depth)} code ${'} '.repeat(GRAPHQL_LIMITS.depth)} } }`
  const d = await admin.gql(deep)
  t.equal(d.status, 400)
  t.equal(d.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.match(d.errors?.[0]?.message, /depth/)

  const aliased = (n: number): string => `mutation ($i: HouseholdInput!) { ${Array.from({ length: n }, (_, i) => `a${i}: createHousehold(input: $i) { id }`).join(' ')} }`
  const a = await admin.gql(aliased(GRAPHQL_LIMITS.aliases + 1), { i: householdInput(VILLAGE) })
  t.equal(a.status, 400)
  t.match(a.errors?.[0], { extensions: { code: 'BAD_USER_INPUT', limit: 'aliases' } })
  t.same(await count(), before, 'not one of the aliased mutations ran')

  const tokens = `{ ${Array.from({ length: GRAPHQL_LIMITS.tokens }, (_, i) => `f${i}: me { sub }`).join(' ')} }`
  const k = await admin.gql(tokens)
  t.equal(k.status, 400)
  t.equal(k.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')

  // A page of 200 households with their lists is within the budget; lists nested four deep are not.
  const page = await admin.gql('{ households(first: 200) { edges { node { id members { name } measures { kind } incomes { year } exitReviews { history { action } } region { name } } } } }')
  t.equal(page.errors, undefined, 'a full page with its nested lists is allowed')
  const expensive = await admin.gql('{ households(first: 200) { edges { node { region { children { children { children { children { code } } } } } } } } }')
  t.equal(expensive.status, 400)
  t.match(expensive.errors?.[0], { extensions: { code: 'BAD_USER_INPUT', limit: 'cost' }, message: /budget/ })
  const byVariable = await admin.gql('query ($n: Int) { households(first: $n) { edges { node { region { children { children { children { children { code } } } } } } } } }', { n: 200 })
  t.equal(byVariable.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'page sizes given as variables count too')
  t.equal((await admin.gql('query ($n: Int) { households(first: $n) { edges { node { region { children { children { children { children { code } } } } } } } } }', { n: 5 })).errors, undefined)
  const backward = await admin.gql('query ($n: Int) { households(last: $n) { edges { node { region { children { children { children { children { code } } } } } } } } }', { n: 200 })
  t.match(backward.errors?.[0], { extensions: { code: 'BAD_USER_INPUT', limit: 'cost' } }, 'a page sized by last counts as one sized by first')
  t.equal((await admin.gql('{ households(last: 5) { edges { node { region { children { children { children { children { code } } } } } } } } }')).errors, undefined)
  t.same(await count(), before)
})

t.test('batched (array) requests are refused', async (t) => {
  const { app } = await buildApp(t)
  const res = await app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${await token(ADMIN)}` }, payload: [{ query: '{ me { sub } }' }, { query: '{ me { sub } }' }] })
  t.equal(res.statusCode, 400)
  t.notMatch(res.body, /"sub"/)
})

t.test('production: no introspection, no "did you mean" suggestions; development keeps them (GraphiQL: graphql.test.ts)', async (t) => {
  const prod = await buildApp(t, { config: testConfig({ NODE_ENV: 'production' }) })
  const dev = await buildApp(t, { config: testConfig({ NODE_ENV: 'development' }) })
  const introspection = '{ __schema { queryType { name } } }'
  const typo = '{ househol(id: "x") { id } }'
  const p = prod.as(ADMIN)
  const d = dev.as(ADMIN)
  const pi = await p.gql(introspection)
  t.equal(pi.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.equal((await d.gql(introspection)).data.__schema.queryType.name, 'Query')
  const pt = await p.gql(typo)
  t.notMatch(pt.errors?.[0]?.message, /Did you mean/)
  t.match(pt.errors?.[0]?.message, /Cannot query field "househol"/)
  t.match((await d.gql(typo)).errors?.[0]?.message, /Did you mean "household"/)
})

t.test('the cost is remembered per document and the values of its page-size and directive variables: never a stale answer', (t) => {
  const schema = buildSchema(readFileSync(paths.schema, 'utf8'))
  const text = `query ($n: Int, $m: Int = 200, $deep: Boolean!) {
    households(first: $n) { edges { node { id members { name } region { children @include(if: $deep) { children { children { children { code } } } } } } } }
    more: households(first: $m) { edges { node { id } } }
  }`
  const document = parse(text)
  const outcome = (check: () => number): number | string => { try { return check() } catch (err) { return (err as Error).message } }
  let refused = 0
  fc.assert(fc.property(
    fc.array(fc.record({ n: fc.option(fc.integer({ min: 1, max: 200 })), m: fc.option(fc.integer({ min: 1, max: 200 })), deep: fc.boolean(), omitM: fc.boolean() }), { minLength: 1, maxLength: 20 }),
    (calls) => calls.every(({ n, m, deep, omitM }) => {
      const variables: Record<string, unknown> = omitM ? { n, deep } : { n, m, deep }
      const expected = outcome(() => checkCost(schema, parse(text), variables))
      if (typeof expected === 'string') refused++
      return outcome(() => checkCost(schema, document, variables)) === expected
    })), { numRuns: 60 })
  t.ok(refused > 0, 'some of the calls are over the budget')
  t.end()
})
