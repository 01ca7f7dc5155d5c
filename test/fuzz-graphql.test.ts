/**
 * Input fuzzing of every GraphQL mutation. The argument types come from
 * graphql/schema.graphql; for each mutation fast-check generates
 *  - valid variables (with the records they need): they must succeed and store what they should;
 *  - bad variables: one position of a valid set made bad — a wrong type, null where
 *    required, a required field left out, an unknown field (`regionCode`, `status`,
 *    `__proto__`, `constructor` …), a huge or NUL-holding string, a bad date or
 *    national ID, a negative or huge number, a bad JSON value (deep, array, polluting):
 *    they must be refused with the contract's codes (never INTERNAL), BAD_USER_INPUT
 *    naming the field, and every stored table unchanged;
 *  - odd variables (direction marks, lone surrogates, edge dates …): either outcome,
 *    never INTERNAL, and nothing stored when refused.
 */
import fc from 'fast-check'
import t from 'tap'
import { householdInput, memberInput, nationalId } from './fixtures.js'
import { BAD_NAMES, badVariant, changedTables, documentOf, failure, gqlSchema as schema, graphqlShapeProblems, namesField, oddVariant, snapshot, type Snapshot, type Vars } from './fuzz-support.js'
import { buildApp, uniqueSub, type Client, type GqlResult } from './helper.js'

const MUTATIONS = schema.getMutationType()!.getFields()

type Gen = fc.GeneratorValue
interface Spec {
  client: Client
  /** Fresh valid variables, with the records they need. */
  valid: (g: Gen) => Promise<Vars>
  /** Tables a valid call must change. */
  changes: string[]
}

const VILLAGE = '411224101201'
const THIS_YEAR = new Date().getUTCFullYear()
const DAY = 86_400_000

t.test('GraphQL mutations: valid inputs succeed, bad ones are refused naming the field, never INTERNAL, nothing stored', async (t) => {
  let offset = 0
  const { as, app, database } = await buildApp(t, { clock: () => new Date(Date.now() + offset) })
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const township = as({ sub: uniqueSub('town'), role: 'REVIEWER', region: '411224101' })
  const county = as({ sub: uniqueSub('county'), role: 'REVIEWER', region: '411224' })
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const hospital = as({ sub: uniqueSub('hospital'), role: 'EXCHANGE', region: '4112', dept: 'health' })
  const must = async <T = any>(client: Client, query: string, variables?: Vars): Promise<T> => {
    const res = await client.gql<T>(query, variables)
    if (res.errors !== undefined) throw new Error(`fixture: ${JSON.stringify(res.errors)}`)
    return res.data
  }

  // --- Records the mutations work on -----------------------------------------
  const household = async (over: Vars = {}): Promise<{ id: string, version: number, members: Array<{ id: string, relation: string }> }> =>
    (await must(op, 'mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id version members { id relation } } }', { i: householdInput(VILLAGE, over) })).createHousehold
  const ready = async (): Promise<string> => {
    const h = await household({ foodSecure: true, clothingSecure: true, housingSafe: true, drinkingWaterSafe: true })
    await must(op, `mutation { recordIncome(householdId: "${h.id}", input: { year: 2019, wage: 12000, business: 3000, property: 0, transfer: 1500, expenses: 1500 }) { year } }`)
    return h.id
  }
  const proposed = async (): Promise<string> => (await must(op, `mutation { proposeExit(householdId: "${await ready()}", year: 2019) { id } }`)).proposeExit.id
  const verified = async (): Promise<string> => {
    const id = await proposed()
    await must(township, `mutation { verifyExit(reviewId: "${id}") { id } }`)
    return id
  }
  const noticeEnded = async (): Promise<string> => {
    const id = await verified()
    offset += 8 * DAY
    return id
  }
  const exited = async (): Promise<string> => {
    const id = await noticeEnded()
    return (await must(county, `mutation { approveExit(reviewId: "${id}") { household { id } } }`)).approveExit.household.id
  }
  const measure = async (): Promise<{ id: string, version: number }> => {
    const h = await household()
    return (await must(op, `mutation { addMeasure(householdId: "${h.id}", input: { category: EDUCATION, kind: "tuition_waiver", startDate: "2019-09-01" }) { id version } }`)).addMeasure
  }
  const projectVars = { regionCode: VILLAGE, name: '龙王庙村香菇大棚', category: 'INDUSTRY', plannedStart: '2019-03-01', budget: 2_000_000 }
  const project = async (): Promise<string> => (await must(op, 'mutation ($i: ProjectInput!) { createProject(input: $i) { id } }', { i: projectVars })).createProject.id
  const approved = async (): Promise<string> => {
    const id = await project()
    await must(county, `mutation { approveProject(id: "${id}") { id } }`)
    return id
  }
  /** An approved project with 1,000,000 yuan allocated and a beneficiary household. */
  const paying = async (): Promise<{ id: string, household: { id: string, members: Array<{ id: string }> } }> => {
    const id = await approved()
    const h = await household()
    await must(op, `mutation { linkBeneficiaries(projectId: "${id}", householdIds: ["${h.id}"]) { id } }`)
    await must(op, `mutation { allocateFunds(projectId: "${id}", input: { source: CENTRAL, amount: 1000000, documentNo: "豫财农〔2019〕12号", date: "2019-03-10" }) { id } }`)
    return { id, household: h }
  }
  const regionVersion = async (code: string): Promise<number> => (await must(admin, `{ region(code: "${code}") { version } }`)).region.version

  // Work items: uninsured members of the village found by a health insurance import.
  for (let i = 0; i < 2; i++) {
    await household({ members: [memberInput({ medicalInsurance: false }), ...['2010-01-01', '2011-02-02', '2012-03-03'].map(birth => memberInput({ relation: 'CHILD', medicalInsurance: false, nationalId: nationalId(birth) }))] })
  }
  await hospital.get('/api/v1/me')
  const job = await app.inject({ method: 'POST', url: '/api/v1/exchange/jobs?kind=health.insurance', headers: { authorization: `Bearer ${hospital.token}`, 'content-type': 'application/x-ndjson' }, payload: `{"national_id":"${nationalId()}","year":2019,"medical_insurance":true,"serious_illness_insurance":true}\n` })
  t.equal(job.statusCode, 202)
  for (let i = 0; i < 400 && !['succeeded', 'failed'].includes((await hospital.get(`/api/v1/exchange/jobs/${job.json().id as string}`)).json().status as string); i++) await new Promise(resolve => setTimeout(resolve, 25))
  const items: Array<{ id: string, version: number }> = (await must(op, '{ workItems(filter: { status: OPEN }, first: 200) { edges { node { id version } } } }')).workItems.edges.map((e: any) => e.node)
  t.ok(items.length >= 7, 'work items to resolve')
  // Poor villages and counties whose incidence allows an exit, one per valid run.
  const villages: string[] = (await must(admin, '{ region(code: "411224102") { children { code } } }')).region.children.map((c: any) => c.code as string)
  const counties: string[] = (await must(admin, '{ region(code: "4112") { children { code } } }')).region.children.map((c: any) => c.code as string)
  const poorRegion = async (code: string): Promise<string> => {
    await must(admin, `mutation { updateRegion(code: "${code}", expectedVersion: ${await regionVersion(code)}, input: { isPoor: true, ruralPopulation: 10000000 }) { code } }`)
    return code
  }
  let targetYear = 2051 // counting down from 2050: years without a seeded target
  // People sent: villages of another township for new teams (one per team), helpers and assignments in the operator's village.
  const teamVillages: string[] = (await must(admin, '{ region(code: "411224") { children { code children { code } } } }')).region.children
    .filter((t: any) => !['411224101', '411224102'].includes(t.code)).flatMap((t: any) => t.children.map((c: any) => c.code as string))
  const TEAM = 'id version members { id }'
  const team = async (): Promise<{ id: string, version: number, members: Array<{ id: string }> }> =>
    (await must(admin, `mutation ($i: WorkTeamInput!) { createWorkTeam(input: $i) { ${TEAM} } }`, { i: { regionCode: teamVillages.pop()!, sendingUnit: '卢氏县农业农村局', startedOn: '2018-03-01', members: [{ name: '赵书记', role: 'FIRST_SECRETARY' }] } })).createWorkTeam
  const helper = async (): Promise<{ id: string, version: number }> =>
    (await must(op, `mutation { createHelper(input: { regionCode: "${VILLAGE}", name: "周帮扶", unit: "卢氏县财政局", phone: "13911112222" }) { id version } }`)).createHelper
  /** A household without a helper, and a helper assigned to it from 2019-01-01. */
  const assigned = async (): Promise<{ householdId: string, helperId: string, assignmentId: string }> => {
    const h = await household({ helper: null })
    const p = await helper()
    const a = (await must(op, `mutation { assignHelper(householdId: "${h.id}", helperId: "${p.id}", startedOn: "2019-01-01") { id } }`)).assignHelper
    return { householdId: h.id, helperId: p.id, assignmentId: a.id }
  }
  const phone = (g: Gen): string => `137${g(fc.integer, { min: 10_000_000, max: 99_999_999 })}`

  // --- Valid inputs ---------------------------------------------------------------
  // Any graphemes but control and format characters (names refuse those), with something visible.
  const text = (g: Gen, max = 20): string => {
    const v = g(fc.string, { unit: 'grapheme', minLength: 1, maxLength: max }).replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '').trim()
    return /[^\p{White_Space}\p{Mn}\p{Me}\u034F\u115F\u1160\u2800\u3164\uFFA0]/u.test(v) ? v : '名'
  }
  const money = (g: Gen): number => g(fc.integer, { min: 0, max: 5_000_000 }) / 100
  const enumOf = (name: string): string[] => (schema.getType(name) as any).getValues().map((v: any) => v.name)
  const pick = <T>(g: Gen, values: T[]): T => g(fc.constantFrom, ...values)
  const member = (g: Gen, relation: string): Vars => {
    const birth = g(fc.date, { min: new Date('1930-01-01'), max: new Date('2019-12-31'), noInvalidDate: true }).toISOString().slice(0, 10)
    const sex = pick(g, ['MALE', 'FEMALE'] as const)
    return {
      nationalId: nationalId(birth, sex), name: text(g), relation, laborCapacity: pick(g, enumOf('LaborCapacity')),
      ...(g(fc.boolean) ? { sex } : {}), schooling: pick(g, enumOf('SchoolingStatus')), employment: pick(g, enumOf('EmploymentStatus')),
      medicalInsurance: g(fc.boolean), wantsWork: g(fc.boolean), healthConditions: g(fc.subarray, enumOf('HealthCondition').filter(c => c !== 'DISABLED')),
      ...(g(fc.boolean) ? { employmentMonths: g(fc.integer, { min: 0, max: 12 }), monthlyIncome: money(g) } : {})
    }
  }
  const OTHERS = enumOf('Relation').filter(r => r !== 'HEAD')

  const specs: Record<string, Spec> = {
    createHousehold: {
      client: op,
      changes: ['households', 'members', 'audit_events'],
      valid: async g => ({
        input: {
          regionCode: VILLAGE, attribute: pick(g, enumOf('PovertyAttribute')), mainCause: pick(g, enumOf('PovertyCause')), otherCauses: g(fc.subarray, enumOf('PovertyCause')),
          identificationYear: g(fc.integer, { min: 2014, max: 2020 }), housingSafe: g(fc.boolean), drinkingWaterSafe: g(fc.boolean), phone: `138${g(fc.integer, { min: 10_000_000, max: 99_999_999 })}`,
          cultivatedLandMu: g(fc.integer, { min: 0, max: 10_000 }) / 100, helper: { name: text(g), unit: text(g) },
          members: [member(g, 'HEAD'), ...Array.from({ length: g(fc.integer, { min: 0, max: 3 }) }, () => member(g, pick(g, OTHERS)))]
        }
      })
    },
    updateHousehold: {
      client: op,
      changes: ['households', 'audit_events'],
      valid: async g => {
        const h = await household()
        return { id: h.id, expectedVersion: h.version, input: { attribute: pick(g, enumOf('PovertyAttribute')), foodSecure: g(fc.boolean), bankName: text(g), forestLandMu: g(fc.integer, { min: 0, max: 10_000 }) / 100 } }
      }
    },
    closeHousehold: { client: op, changes: ['households', 'members', 'audit_events'], valid: async g => ({ id: (await household()).id, reason: pick(g, enumOf('HouseholdCloseReason')) }) },
    addMember: { client: op, changes: ['members', 'audit_events'], valid: async g => ({ householdId: (await household()).id, input: member(g, pick(g, OTHERS)) }) },
    updateMember: {
      client: op,
      changes: ['members', 'audit_events'],
      valid: async g => ({ id: (await household()).members[1]!.id, input: { name: text(g), laborCapacity: pick(g, enumOf('LaborCapacity')), dibao: g(fc.boolean), ethnicity: '汉族' }, expectedVersion: 1 })
    },
    removeMember: { client: op, changes: ['members', 'audit_events'], valid: async g => ({ id: (await household()).members[1]!.id, reason: pick(g, enumOf('MemberRemovalReason')) }) },
    recordIncome: {
      client: op,
      changes: ['incomes', 'audit_events'],
      valid: async g => {
        const pension = money(g)
        const dibao = money(g)
        return { householdId: (await household()).id, input: { year: g(fc.integer, { min: 2014, max: THIS_YEAR }), wage: money(g), business: money(g), property: money(g), transfer: Math.round((pension + dibao) * 100) / 100, expenses: money(g), transferItems: { pension, dibao } } }
      }
    },
    addMeasure: {
      client: op,
      changes: ['measures', 'audit_events'],
      valid: async g => ({
        householdId: (await household()).id,
        input: {
          ...pick(g, [{ category: 'EDUCATION', kind: 'tuition_waiver' }, { category: 'SOCIAL_SECURITY', kind: 'dibao' }, { category: 'INDUSTRY', kind: 'livestock', details: { project: text(g) } }]),
          status: pick(g, enumOf('MeasureStatus')), startDate: '2019-03-01', endDate: '2019-12-31', amount: money(g), fundingSource: text(g)
        }
      })
    },
    updateMeasure: {
      client: op,
      changes: ['measures', 'audit_events'],
      valid: async g => { const m = await measure(); return { id: m.id, input: { status: pick(g, enumOf('MeasureStatus')), amount: money(g), fundingSource: text(g) }, expectedVersion: m.version } }
    },
    updateRegion: {
      client: admin,
      changes: ['regions', 'audit_events'],
      valid: async g => { const code = pick(g, villages); return { code, expectedVersion: await regionVersion(code), input: { ruralPopulation: g(fc.integer, { min: 0, max: 100_000 }) } } }
    },
    setPovertyLine: { client: admin, changes: ['poverty_lines', 'audit_events'], valid: async g => ({ year: g(fc.integer, { min: 2010, max: 2013 }), amount: g(fc.integer, { min: 2000, max: 3500 }) }) },
    proposeExit: { client: op, changes: ['exit_reviews', 'exit_review_steps', 'audit_events'], valid: async () => ({ householdId: await ready(), year: 2019 }) },
    verifyExit: { client: township, changes: ['exit_reviews', 'exit_review_steps', 'audit_events'], valid: async g => ({ reviewId: await proposed(), ...(g(fc.boolean) ? { comment: text(g, 100) } : {}) }) },
    objectExit: { client: op, changes: ['exit_reviews', 'exit_review_steps', 'audit_events'], valid: async g => ({ reviewId: await verified(), text: text(g, 100) }) },
    approveExit: { client: county, changes: ['exit_reviews', 'exit_review_steps', 'households', 'household_status_changes', 'audit_events'], valid: async g => ({ reviewId: await noticeEnded(), ...(g(fc.boolean) ? { comment: text(g, 100) } : {}) }) },
    rejectExit: { client: township, changes: ['exit_reviews', 'exit_review_steps', 'audit_events'], valid: async g => ({ reviewId: await proposed(), reason: text(g, 100) }) },
    markReturned: { client: county, changes: ['households', 'household_status_changes', 'audit_events'], valid: async g => ({ householdId: await exited(), year: g(fc.integer, { min: 2020, max: THIS_YEAR }), reason: text(g, 100) }) },
    exitVillage: { client: county, changes: ['regions', 'audit_events'], valid: async g => ({ code: await poorRegion(villages.pop()!), year: g(fc.integer, { min: 2016, max: THIS_YEAR }) }) },
    exitCounty: { client: admin, changes: ['regions', 'audit_events'], valid: async g => ({ code: await poorRegion(counties.pop()!), year: g(fc.integer, { min: 2016, max: THIS_YEAR }) }) },
    resolveWorkItem: {
      client: op,
      changes: ['work_items', 'audit_events'],
      valid: async g => { const item = items.pop()!; return { id: item.id, disposition: pick(g, enumOf('WorkItemDisposition')), note: text(g, 100), ...(g(fc.boolean) ? { expectedVersion: item.version } : {}) } }
    },
    createProject: {
      client: op,
      changes: ['projects', 'audit_events'],
      valid: async g => ({
        input: {
          regionCode: pick(g, [VILLAGE, '411224101', '411224101202'].filter(c => c.startsWith(VILLAGE))), name: text(g, 50), category: pick(g, enumOf('MeasureCategory')),
          plannedStart: '2019-03-01', ...(g(fc.boolean) ? { plannedEnd: '2020-06-30' } : {}), budget: money(g) + 0.01,
          ...(g(fc.boolean) ? { code: `P-${uniqueSub('x')}` } : {})
        }
      })
    },
    approveProject: { client: county, changes: ['projects', 'audit_events'], valid: async () => ({ id: await project() }) },
    setProjectStatus: {
      client: op,
      changes: ['projects', 'audit_events'],
      valid: async g => (g(fc.boolean) ? { id: await approved(), status: 'IN_PROGRESS', expectedVersion: 2 } : { id: await project(), status: 'CANCELLED', expectedVersion: 1 })
    },
    linkBeneficiaries: { client: op, changes: ['project_beneficiaries', 'audit_events'], valid: async () => ({ projectId: await project(), householdIds: [(await household()).id, (await household()).id] }) },
    allocateFunds: {
      client: op,
      changes: ['fund_allocations', 'projects', 'audit_events'],
      valid: async g => ({ projectId: await project(), input: { source: pick(g, enumOf('FundSource')), amount: money(g) + 0.01, documentNo: text(g, 50), date: '2019-04-01' } })
    },
    recordPayment: {
      client: op,
      changes: ['fund_payments', 'projects', 'audit_events'],
      valid: async g => {
        const p = await paying()
        return {
          projectId: p.id,
          input: {
            householdId: p.household.id, ...(g(fc.boolean) ? { memberId: p.household.members[0]!.id } : {}), amount: g(fc.integer, { min: 1, max: 500_000 }) / 100, date: '2019-06-01',
            ...(g(fc.boolean) ? { account: String(g(fc.bigInt, { min: 10n ** 15n, max: 10n ** 19n - 1n })) } : {}), ...(g(fc.boolean) ? { reference: `PZ-${text(g, 20)}` } : {})
          }
        }
      }
    },
    createWorkTeam: {
      client: admin,
      changes: ['work_teams', 'work_team_members', 'audit_events'],
      valid: async g => ({ input: { regionCode: teamVillages.pop()!, sendingUnit: text(g), startedOn: '2018-03-01', members: [{ name: text(g), unit: text(g), phone: phone(g), role: 'FIRST_SECRETARY', joinedOn: '2018-04-01' }, { name: text(g), role: pick(g, ['TEAM_LEADER', 'MEMBER']) }] } })
    },
    updateWorkTeam: { client: admin, changes: ['work_teams', 'audit_events'], valid: async g => { const w = await team(); return { id: w.id, expectedVersion: w.version, input: { sendingUnit: text(g), startedOn: '2018-05-01' } } } },
    endWorkTeam: { client: admin, changes: ['work_teams', 'work_team_members', 'audit_events'], valid: async () => { const w = await team(); return { id: w.id, expectedVersion: w.version, endedOn: '2020-12-31' } } },
    addWorkTeamMember: { client: admin, changes: ['work_team_members', 'audit_events'], valid: async g => ({ teamId: (await team()).id, input: { name: text(g), unit: text(g), phone: phone(g), role: pick(g, ['TEAM_LEADER', 'MEMBER']), joinedOn: '2019-01-01' } }) },
    removeWorkTeamMember: { client: admin, changes: ['work_team_members', 'audit_events'], valid: async () => ({ id: (await team()).members[0]!.id, leftOn: '2020-06-30' }) },
    createHelper: { client: op, changes: ['helpers', 'audit_events'], valid: async g => ({ input: { regionCode: VILLAGE, name: text(g), unit: text(g), phone: phone(g), homeRegionCode: '411224' } }) },
    updateHelper: { client: op, changes: ['helpers', 'audit_events'], valid: async g => { const p = await helper(); return { id: p.id, expectedVersion: p.version, input: { name: text(g), unit: text(g), phone: phone(g) } } } },
    assignHelper: { client: op, changes: ['helper_assignments', 'audit_events'], valid: async () => ({ householdId: (await household({ helper: null })).id, helperId: (await helper()).id, startedOn: '2019-06-01' }) },
    endHelperAssignment: { client: op, changes: ['helper_assignments', 'audit_events'], valid: async () => ({ id: (await assigned()).assignmentId, endedOn: '2020-06-30' }) },
    recordVisit: {
      client: op,
      changes: ['visits', 'audit_events'],
      valid: async g => { const a = await assigned(); return { input: { householdId: a.householdId, helperId: a.helperId, visitedOn: '2019-06-01', note: `${text(g, 200)}\n${text(g, 200)}` } } }
    },
    setPlanTarget: {
      client: admin,
      changes: ['plan_targets', 'audit_events'],
      valid: async g => ({ regionCode: pick(g, ['411224', '411224101', '411224102']), year: --targetYear, input: { personsToExit: g(fc.integer, { min: 0, max: 100_000 }), industryCoverageRate: g(fc.integer, { min: 0, max: 10_000 }) / 10_000 } })
    }
  }

  t.same(Object.keys(MUTATIONS).filter(m => specs[m] === undefined), [], 'every mutation of the schema is fuzzed')

  // Inputs that once got a wrong answer.
  await t.test('regressions', async (t) => {
    const refused = async (client: Client, query: string, variables: Vars, path: string, why: string): Promise<void> => {
      const res = await client.gql(query, variables)
      t.same(graphqlShapeProblems(res), [], `${why}: the contract's error shape`)
      t.match(res.errors?.[0]?.extensions, { code: 'BAD_USER_INPUT', fields: [{ path }] }, `${why}: BAD_USER_INPUT naming ${path}`)
    }
    const review = await proposed()
    const target = await household()
    const before = await snapshot(database)
    // A NUL character (PostgreSQL cannot store it) or an unpaired surrogate (the audit hash refuses it) was INTERNAL.
    await refused(township, 'mutation ($c: String) { verifyExit(reviewId: "' + review + '", comment: $c) { id } }', { c: 'a\u0000b' }, 'comment', 'NUL in a variable')
    await refused(township, 'mutation { verifyExit(reviewId: "' + review + '", comment: "a\\u0000b") { id } }', {}, 'comment', 'NUL in a literal')
    await refused(township, 'mutation ($c: String) { verifyExit(reviewId: "' + review + '", comment: $c) { id } }', { c: '\uD800' }, 'comment', 'a lone surrogate')
    await refused(op, 'mutation ($input: HouseholdInput!) { createHousehold(input: $input) { id } }', { input: householdInput(VILLAGE, { members: [memberInput({ name: '王\u0000' })] }) }, 'input.members.0.name', 'NUL in a name')
    await refused(op, 'mutation ($input: MeasureInput!) { addMeasure(householdId: "' + target.id + '", input: $input) { id } }',
      { input: { category: 'INDUSTRY', kind: 'livestock', startDate: '2019-01-01', details: { 'project\u0000': 'x' } } }, 'input.details', 'NUL in a JSON key')
    // Names with control characters, text-direction overrides or nothing visible were stored.
    for (const name of BAD_NAMES) {
      const why = `the name ${JSON.stringify(name).replace(/[^\x20-\x7e]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}`
      await refused(op, 'mutation ($input: HouseholdInput!) { createHousehold(input: $input) { id } }', { input: householdInput(VILLAGE, { members: [memberInput({ name })] }) }, 'input.members.0.name', why)
      await refused(op, 'mutation ($input: MemberPatch!) { updateMember(id: "' + target.members[1]!.id + '", input: $input) { id } }', { input: { name } }, 'input.name', why)
      await refused(op, 'mutation ($input: HouseholdPatch!) { updateHousehold(id: "' + target.id + '", expectedVersion: 1, input: $input) { id } }', { input: { helper: { name: '李四', unit: name } } }, 'input.helper.unit', why)
      await refused(op, 'mutation ($input: MeasureInput!) { addMeasure(householdId: "' + target.id + '", input: $input) { id } }', { input: { category: 'INDUSTRY', kind: 'solar', startDate: '2019-01-01', fundingSource: name } }, 'input.fundingSource', why)
    }
    // Year 0 passed as a real date, and PostgreSQL refused it: INTERNAL.
    await refused(op, 'mutation ($input: MeasureInput!) { addMeasure(householdId: "' + target.id + '", input: $input) { id } }',
      { input: { category: 'EDUCATION', kind: 'tuition_waiver', startDate: '0000-01-01' } }, 'input.startDate', 'year 0')
    // An unknown or missing input field was named only by its object (`input`).
    await refused(op, 'mutation ($input: HouseholdPatch!) { updateHousehold(id: "' + target.id + '", expectedVersion: 1, input: $input) { id } }', { input: { regionCode: '41' } }, 'input.regionCode', 'an unknown field')
    await refused(op, 'mutation ($input: IncomeInput!) { recordIncome(householdId: "' + target.id + '", input: $input) { year } }', { input: { year: 2019, wage: 1, business: 1, property: 1, transfer: 1 } }, 'input.expenses', 'a missing field')
    t.same(changedTables(before, await snapshot(database)), [], 'nothing stored')
    // Land areas with 2 decimals were refused when binary floating point missed (0.07 × 100 = 7.000000000000001).
    const res = await op.gql(`mutation { updateHousehold(id: "${target.id}", expectedVersion: ${target.version}, input: { forestLandMu: 0.07, cultivatedLandMu: 0.29 }) { forestLandMu cultivatedLandMu } }`)
    t.same(res.data?.updateHousehold, { forestLandMu: 0.07, cultivatedLandMu: 0.29 }, 'areas with 2 decimals are taken')
  })

  let base: Snapshot = await snapshot(database)
  const sample = (): Gen => fc.sample(fc.gen(), 1)[0]!
  for (const [field, spec] of Object.entries(specs)) {
    const document = documentOf('mutation', MUTATIONS[field]!)
    /** Calls the mutation; `fresh`: first snapshot what the variables' records left (else the last snapshot stands). */
    const call = async (vars: Vars, fresh: boolean): Promise<{ res: GqlResult<any>, changed: string[], label: string, problems: string[] }> => {
      if (fresh) base = await snapshot(database)
      const res = await spec.client.gql(document, vars)
      const after = await snapshot(database)
      const changed = changedTables(base, after)
      base = after
      const label = `${field} ${JSON.stringify(vars).slice(0, 400)} → ${res.status} ${JSON.stringify(res.errors ?? res.data).slice(0, 600)}`
      return { res, changed, label, problems: graphqlShapeProblems(res) }
    }
    const check = async (name: string, numRuns: number, run: (g: Gen) => Promise<string[]>): Promise<void> => {
      const details = await fc.check(fc.asyncProperty(fc.gen(), async g => {
        const problems = await run(g)
        if (problems.length > 0) throw new Error(problems.join('\n'))
      }), { numRuns, endOnFailure: true })
      t.notOk(details.failed, `${field} (${name}, ${details.numRuns} runs) ${failure(details)}`)
    }

    await check('valid', 3, async g => {
      const { res, changed, label, problems } = await call(await spec.valid(g), true)
      if (res.errors !== undefined) problems.push('a valid input was refused')
      for (const table of spec.changes) if (!changed.includes(table)) problems.push(`did not store in ${table}`)
      return problems.map(p => `${label}\n${p}`)
    })
    const valid = await spec.valid(sample()) // the bad variants are of this one, which stays unused
    base = await snapshot(database)
    await check('bad', 20, async g => {
      const variant = badVariant(g, MUTATIONS[field]!, valid)
      const { res, changed, label, problems } = await call(variant.vars, false)
      const errors = res.errors ?? []
      if (errors.length === 0) problems.push('a bad input was accepted')
      if (res.data?.[field] != null) problems.push('data returned with the refusal')
      if (changed.length > 0) problems.push(`refused, yet changed ${changed.join(', ')}`)
      const bad = errors.filter(e => e.extensions?.code === 'BAD_USER_INPUT')
      if (variant.coercion && bad.length === 0) problems.push('a wrong type is not BAD_USER_INPUT')
      if (bad.length > 0 && !namesField(res, variant.path)) problems.push(`BAD_USER_INPUT does not name ${variant.path}`)
      return problems.map(p => `${label}\n(${variant.path}: ${variant.what}) ${p}`)
    })
    await check('odd', 2, async g => {
      const variant = oddVariant(g, MUTATIONS[field]!, await spec.valid(g))
      if (variant === null) return []
      const { res, changed, label, problems } = await call(variant.vars, true)
      if (res.errors !== undefined && changed.length > 0) problems.push(`refused, yet changed ${changed.join(', ')}`)
      return problems.map(p => `${label}\n(${variant.path}: ${variant.what}) ${p}`)
    })
  }
})
