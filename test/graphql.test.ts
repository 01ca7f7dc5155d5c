import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import app from '../src/app.js'
import { HOUSEHOLD_FIELDS, householdInput, MEMBER_FIELDS } from './fixtures.js'
import { buildApp, freshDatabase, testConfig, testDatabase, testServerOptions, token, uniqueSub } from './helper.js'

t.test('queries over GET, mutations only over POST', async (t) => {
  const { app, as } = await buildApp(t)
  const user = as({ sub: uniqueSub(), role: 'OPERATOR', region: '411224' })
  await user.gql('{ me { sub } }')
  const headers = { authorization: `Bearer ${user.token}` }
  const get = await app.inject({ url: '/graphql?query=' + encodeURIComponent('{ me { role region { name } } }'), headers })
  t.same(get.json(), { data: { me: { role: 'OPERATOR', region: { name: '卢氏县' } } } })
  const mutation = await app.inject({ url: '/graphql?query=' + encodeURIComponent('mutation { updateRegion(code: "4112", expectedVersion: 1, input: { isPoor: true }) { code } }'), headers })
  t.equal(mutation.statusCode, 405)
  t.equal(mutation.json().errors[0].extensions.code, 'BAD_USER_INPUT')
})

t.test('a malformed document, an unknown field or a bad variable is BAD_USER_INPUT with status 400', async (t) => {
  const { as } = await buildApp(t)
  const user = as({ sub: uniqueSub(), role: 'OPERATOR', region: '411224' })
  const syntax = await user.gql('{ me { sub ')
  t.equal(syntax.status, 400)
  t.equal(syntax.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  const unknown = await user.gql('{ me { password } }')
  t.equal(unknown.status, 400)
  t.match(unknown.errors?.[0], { message: /Cannot query field "password"/, extensions: { code: 'BAD_USER_INPUT' } })
  const missingVar = await user.gql('query ($code: String!) { region(code: $code) { name } }', {})
  t.equal(missingVar.status, 400)
  t.same(missingVar.errors?.[0]?.extensions.fields?.map(f => f.path), ['code'])
  // Values written inline are named by their argument path, as variables are.
  const inline = async (doc: string): Promise<string[] | undefined> => {
    const res = await user.gql(doc)
    t.equal(res.status, 400, doc)
    t.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
    return res.errors?.flatMap(e => e.extensions.fields?.map(f => f.path) ?? []).sort()
  }
  t.same(await inline('{ region(code: 411224) { name } }'), ['code'])
  const huge = await user.gql('query ($y: Int!) { statistics(regionCode: "411224101201", year: $y) { year } }', { y: 'x'.repeat(100_000) })
  t.equal(huge.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.ok(JSON.stringify(huge.errors).length < 2_000, 'a huge bad value is not echoed back whole')
  t.same(await inline('mutation { setPovertyLine(year: "x", amount: 2300) { year } }'), ['year'])
  t.same(await inline('mutation { createHousehold(input: { regionCode: "411224101201", attribute: GENERAL, mainCause: ILLNESS, identificationYear: 2016, housingSafe: true, drinkingWaterSafe: true, status: POOR, members: [] }) { id } }'), ['input.status'])
  t.same(await inline('mutation { createHousehold(input: { regionCode: "411224101201", attribute: GENERAL, mainCause: ILLNESS, identificationYear: 2016, housingSafe: true, drinkingWaterSafe: true, members: [{ name: "甲", nationalId: 5 }] }) { id } }'), ['input.members.0.laborCapacity', 'input.members.0.nationalId', 'input.members.0.relation'])
  t.same(await inline('mutation { createHousehold(input: { attribute: GENERAL, mainCause: ILLNESS, identificationYear: 2016, housingSafe: true, drinkingWaterSafe: true, members: [] }) { id } }'), ['input.regionCode'])
})

t.test('a variable of the wrong type is named down to the item and field, also once the document runs compiled', async (t) => {
  const { as } = await buildApp(t)
  const user = as({ sub: uniqueSub(), role: 'OPERATOR', region: '411224' })
  const paths = async (doc: string, variables: Record<string, unknown>): Promise<string[]> => {
    const res = await user.gql(doc, variables)
    t.equal(res.status, 400)
    return (res.errors ?? []).flatMap(e => e.extensions.code === 'BAD_USER_INPUT' ? e.extensions.fields?.map(f => f.path) ?? [] : ['not BAD_USER_INPUT']).sort()
  }
  const years = 'query ($years: [Int!]) { planTargets(regionCode: "411224", years: $years) { year } }'
  const create = 'mutation ($input: HouseholdInput!) { createHousehold(input: $input) { id } }'
  const input = householdInput('411224101201')
  const badMember = { ...input, members: [{ ...(input.members as Array<Record<string, unknown>>)[0], nationalId: 5 }] }
  // The first run is interpreted by graphql-js, the later ones compiled by graphql-jit.
  for (const run of [1, 2, 3]) {
    t.equal((await user.gql(years, { years: [2019] })).errors, undefined, `run ${run}: valid`)
    t.same(await paths(years, { years: [2019, {}] }), ['years.1'], `run ${run}: a list item`)
    t.same(await paths(create, { input: badMember }), ['input.members.0.nationalId'], `run ${run}: a field of a list item`)
  }
})

t.test('a batched array of operations is refused', async (t) => {
  const { app } = await buildApp(t)
  const res = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { authorization: `Bearer ${await token({ sub: uniqueSub(), role: 'OPERATOR', region: '4112' })}` },
    payload: [{ query: '{ me { sub } }' }, { query: '{ me { sub } }' }]
  })
  t.equal(res.statusCode, 400)
  t.equal(res.json().errors[0].extensions.code, 'BAD_USER_INPUT')
})

t.test('GraphiQL is served in development only', async (t) => {
  for (const [env, expected] of [['development', 200], ['production', 401], ['test', 401]] as const) {
    const config = testConfig({ NODE_ENV: env })
    const fastify = Fastify(testServerOptions(config))
    await fastify.register(fp(app), { config, database: await testDatabase() })
    t.teardown(() => fastify.close())
    t.equal((await fastify.inject('/graphiql')).statusCode, expected, env)
  }
})

t.test('a document run again (compiled by graphql-jit) answers exactly as its first, interpreted run', async (t) => {
  const { as } = await buildApp(t, { database: await freshDatabase() })
  const village = '411224101201'
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: village })
  const created = await op.gql(`mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }`, { i: householdInput(village) })
  const id: string = created.data.createHousehold.id
  await op.gql(`mutation { addMeasure(householdId: "${id}", input: { category: INDUSTRY, kind: "solar", startDate: "2019-01-01" }) { id } }`)
  await op.gql(`mutation { recordIncome(householdId: "${id}", input: { year: 2019, wage: 6000, business: 0, property: 0, transfer: 0, expenses: 0 }) { year } }`)
  const query = `query ($id: ID!, $missing: ID!) {
    household(id: $id) { ${HOUSEHOLD_FIELDS} members(includeRemoved: true) { ${MEMBER_FIELDS} } measures { id category kind amount details member { name } }
      incomes { year wage perCapitaNet householdSize } statusHistory { fromStatus toStatus } }
    households(filter: { regionCode: "${village}" }, first: 1) { totalCount edges { cursor node { id headName } } pageInfo { hasNextPage endCursor } }
    gone: household(id: $missing) { id }
  }`
  for (const who of [op, as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: village })]) {
    const variables = { id, missing: '00000000-0000-4000-8000-000000000000' }
    const first = await who.gql(query, variables)
    t.equal(first.data.households.totalCount, 1)
    t.equal(first.data.household.members.length, 3)
    t.equal(first.errors?.[0]?.extensions.code, 'NOT_FOUND')
    for (let i = 0; i < 2; i++) t.same(await who.gql(query, variables), first, `run ${i + 2} as the first`)
  }
  // A variable of the wrong type in the run that compiles the document, and after: still
  // BAD_USER_INPUT naming it, never INTERNAL.
  const stats = 'query ($y: Int!) { statistics(regionCode: "411224101201", year: $y) { year } }'
  t.equal((await op.gql(stats, { y: 2019 })).data.statistics.year, 2019)
  for (let i = 0; i < 2; i++) {
    const wrong = await op.gql(stats, { y: {} })
    t.equal(wrong.status, 400)
    t.same(wrong.errors?.map(e => [e.extensions.code, e.extensions.fields?.map(f => f.path)]), [['BAD_USER_INPUT', ['y']]])
  }
})
