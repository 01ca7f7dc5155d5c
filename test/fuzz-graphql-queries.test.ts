/**
 * Input fuzzing of every GraphQL query that takes arguments (the mutations are in
 * fuzz-graphql.test.ts, with the same variants): valid arguments answer without
 * errors; bad ones (wrong types, unknown fields, huge, NUL or unpaired-surrogate
 * strings, bad dates, IDs and cursors, negative and huge numbers) are answered with
 * the contract's codes, never INTERNAL, BAD_USER_INPUT naming the field when GraphQL
 * itself refuses the type; and no read, valid or not, changes a stored table.
 */
import fc from 'fast-check'
import t from 'tap'
import { householdInput } from './fixtures.js'
import { badVariant, changedTables, documentOf, failure, gqlSchema, graphqlShapeProblems, namesField, oddVariant, snapshot, type Vars } from './fuzz-support.js'
import { buildApp, uniqueSub } from './helper.js'

const QUERIES = gqlSchema.getQueryType()!.getFields()
const VILLAGE = '411224101201'

t.test('GraphQL queries: valid arguments answer, bad ones never INTERNAL, and no read stores anything', async (t) => {
  const { as, database, sequenced } = await buildApp(t)
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const created = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { nationalId } } }',
    { i: householdInput(VILLAGE, { foodSecure: true, clothingSecure: true, drinkingWaterSafe: true }) })
  const h = created.data.createHousehold as { id: string, members: Array<{ nationalId: string }> }
  await op.gql(`mutation { recordIncome(householdId: "${h.id}", input: { year: 2019, wage: 12000, business: 3000, property: 0, transfer: 1500, expenses: 1500 }) { year } }`)
  const review = (await op.gql(`mutation { proposeExit(householdId: "${h.id}", year: 2019) { id } }`)).data.proposeExit.id as string
  const page = (await admin.gql('{ households(first: 1) { pageInfo { endCursor } } }')).data.households.pageInfo.endCursor as string
  const team = (await admin.gql(`mutation { createWorkTeam(input: { regionCode: "${VILLAGE}", sendingUnit: "卢氏县农业农村局", startedOn: "2018-03-01" }) { id } }`)).data.createWorkTeam.id as string
  const helperId = (await op.gql(`{ household(id: "${h.id}") { helper { id } } }`)).data.household.helper.id as string
  const project = (await op.gql(`mutation { createProject(input: { regionCode: "${VILLAGE}", name: "村级光伏电站", category: INDUSTRY, plannedStart: "2019-03-01", budget: 100000 }) { id } }`)).data.createProject.id as string
  await sequenced()

  /** Valid arguments of each query that takes any. */
  const valid: Record<string, Vars> = {
    region: { code: '411224' },
    household: { id: h.id },
    households: { filter: { regionCode: '411224', status: 'POOR', attribute: 'GENERAL', mainCause: 'ILLNESS', nameContains: '王' }, first: 10, after: page },
    memberByNationalId: { nationalId: h.members[0]!.nationalId },
    labels: { locale: 'en' },
    exitCriteria: { householdId: h.id, year: 2019 },
    exitReview: { id: review },
    exitReviews: { filter: { regionCode: '411224', status: 'PROPOSED', year: 2019 }, first: 5 },
    exitNotices: { regionCode: '411224', year: 2019 },
    exitWarnings: { regionCode: '411224', first: 5 },
    workItems: { filter: { regionCode: '411224', status: 'OPEN', finding: 'UNINSURED' }, first: 5 },
    auditLog: { filter: { entity: 'Household', entityId: h.id, actorSub: 'someone', from: '2019-01-01', to: '2099-12-31' }, first: 5 },
    auditInclusionProof: { seq: 1, treeSize: 2 },
    auditConsistencyProof: { first: 1, second: 2 },
    statistics: { regionCode: '411224', year: 2019 },
    statisticsTrend: { regionCode: '411224', years: [2018, 2019] },
    planTargets: { regionCode: '4112', years: [2019] },
    workTeam: { id: team },
    workTeams: { filter: { regionCode: '411224', serving: true }, first: 5 },
    helper: { id: helperId },
    helpers: { filter: { regionCode: '411224', nameContains: '李' }, first: 5 },
    unvisitedHouseholds: { regionCode: '411224101', days: 90, first: 5 },
    project: { id: project },
    projects: { filter: { regionCode: '411224', status: 'PLANNED', category: 'INDUSTRY' }, first: 5 },
    fundStatistics: { regionCode: '411224', year: 2019 }
  }
  t.same(Object.entries(QUERIES).filter(([name, f]) => f.args.length > 0 && valid[name] === undefined).map(([name]) => name), [], 'every query with arguments is fuzzed')

  const base = await snapshot(database)
  // Regressions: year 0 in an audit filter was INTERNAL; 2019-02-30 rolled over into March.
  for (const from of ['0000-01-01', '2019-02-30']) {
    const res = await admin.gql('query ($f: AuditFilter) { auditLog(filter: $f) { totalCount } }', { f: { from } })
    t.match(res.errors?.[0]?.extensions, { code: 'BAD_USER_INPUT', fields: [{ path: 'filter.from' }] }, `auditLog from ${from}: BAD_USER_INPUT naming filter.from`)
  }
  for (const [name, vars] of Object.entries(valid)) {
    const field = QUERIES[name]!
    const document = documentOf('query', field)
    const ok = await admin.gql(document, vars)
    t.same(ok.errors, undefined, `${name}: valid arguments answer`)
    const details = await fc.check(fc.asyncProperty(fc.gen(), fc.boolean(), async (g, odd) => {
      const variant = odd ? oddVariant(g, field, vars) : badVariant(g, field, vars)
      if (variant === null) return
      const res = await admin.gql(document, variant.vars)
      const label = `${name} ${JSON.stringify(variant.vars).slice(0, 300)} → ${res.status} ${JSON.stringify(res.errors ?? res.data).slice(0, 500)}\n(${variant.path}: ${variant.what})`
      const problems = graphqlShapeProblems(res)
      if (variant.coercion && !namesField(res, variant.path)) problems.push(`a wrong type is not BAD_USER_INPUT naming ${variant.path}`)
      if (problems.length > 0) throw new Error(`${label}\n${problems.join('\n')}`)
    }), { numRuns: 30, endOnFailure: true })
    t.notOk(details.failed, `${name} (${details.numRuns} runs) ${failure(details)}`)
  }
  t.same(changedTables(base, await snapshot(database)), [], 'no read stored anything')
})
