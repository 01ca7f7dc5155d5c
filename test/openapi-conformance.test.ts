/**
 * Responses conform to openapi.yaml: every documented operation and status is called
 * for real, and each answer's status, media type and body (each line of NDJSON) are
 * checked against the document's schemas with Ajv (JSON Schema 2020-12, as OpenAPI 3.1
 * uses). The examples in the document are checked against their schemas too. The check is
 * strict both ways (see openapi-validator.ts): a field an answer returns must be documented,
 * a field documented must be returned by some answer, and a field every answer returns
 * must be documented as required.
 */
import { PassThrough } from 'node:stream'
import { sql } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { openDatabase, queryRows } from '../src/db/index.js'
import { seedProject } from './disclosures-support.js'
import { householdInput, nationalId } from './fixtures.js'
import { buildApp, machinePgDatabase, testConfig, uniqueSub } from './helper.js'
import { documentedProperties, errorsText, mediaPointer, nonConformance, observed, operations, responseOf, schemaOf, validatorOf } from './openapi-validator.js'

/** Operations whose successes must show an example (the exchange routes and the registry reads; a binary file, e.g. xlsx, needs none); every example present is checked. */
/** The app on a database of the machine's PostgreSQL with a read replica that refuses connections. */
async function replicatedApp (t: Test): Promise<import('fastify').FastifyInstance> {
  const { url } = await machinePgDatabase()
  const database = await openDatabase({ kind: 'postgres', url, poolMax: 2 }, { error: () => {} })
  t.teardown(async () => { await database.close() })
  return (await buildApp(t, { database, config: testConfig({ DATABASE_URL: url, DATABASE_REPLICA_URLS: 'postgres://postgres@127.0.0.1:1/none' }) })).app
}

const EXAMPLES_REQUIRED = new Set(['/api/v1/me', '/api/v1/households', '/api/v1/households/{id}', '/api/v1/households/export', '/api/v1/changes', '/api/v1/eligibility',
  '/api/v1/exchange/jobs', '/api/v1/exchange/jobs/{id}', '/api/v1/exchange/jobs/{id}/errors', '/api/v1/exchange/jobs/{id}/report'])

t.test('the examples in openapi.yaml conform to their schemas, and the exchange and registry reads have them', async (t) => {
  for (const { path, method, op } of operations) {
    for (const [media, content] of Object.entries(op.requestBody?.content ?? {})) {
      if (content.example !== undefined && content.schema !== undefined) {
        const v = validatorOf(content.schema)
        t.ok(v(content.example), `${method} ${path} request example (${media}) ${errorsText(v)}`)
      }
    }
    for (const [status, r] of Object.entries(op.responses)) {
      for (const [media, content] of Object.entries(responseOf(r).content ?? {})) {
        const schemaExample = schemaOf(content.schema)?.example
        if (EXAMPLES_REQUIRED.has(path) && status.startsWith('2') && schemaOf(content.schema)?.format !== 'binary') t.ok(content.example !== undefined || schemaExample !== undefined, `${method} ${path} ${status} ${media} has an example`)
        if (schemaExample !== undefined) {
          const v = validatorOf(schemaOf(content.schema)!)
          t.ok(v(schemaExample), `${method} ${path} ${status} schema example ${errorsText(v)}`)
        }
        if (content.example === undefined || content.schema === undefined) continue
        const v = validatorOf(content.schema)
        const values = media === 'application/x-ndjson' && typeof content.example === 'string' ? content.example.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as unknown) : [content.example]
        for (const value of values) t.ok(v(value), `${method} ${path} ${status} example (${media}) ${errorsText(v)}`)
      }
    }
  }
})

t.test('every REST response conforms to openapi.yaml: status, media type and body', async (t) => {
  const testApp = await buildApp(t)
  const { as, app, sequenced, database } = testApp
  const VILLAGE = '411224101201'
  const op = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const created = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id members { nationalId } } }', { i: householdInput(VILLAGE) })
  const h = created.data.createHousehold as { id: string, members: Array<{ nationalId: string }> }
  await op.gql(`mutation { recordIncome(householdId: "${h.id}", input: { year: 2019, wage: 6000, business: 100, property: 0, transfer: 1200, expenses: 300, transferItems: { pension: 1200 } }) { year } }`)
  await op.gql(`mutation { addMeasure(householdId: "${h.id}", input: { category: INDUSTRY, kind: "solar", startDate: "2019-01-01", amount: 3000, fundingSource: "县财政" }) { id } }`)
  // A township's project with funds and a payment to the household, for GET /disclosures/funds.
  await seedProject(testApp, { regionCode: '411224101', name: '杜关镇食用菌产业基地', allocations: [{ source: 'CENTRAL', amount: 100000, date: '2019-02-01' }], households: [{ id: h.id, regionCode: VILLAGE }], payments: [{ householdId: h.id, amount: 3000, date: '2019-04-01' }] })
  // A household under public notice of its exit (every criterion met for 2019), for GET /exit-notices.
  const ready = await op.gql('mutation ($i: HouseholdInput!) { createHousehold(input: $i) { id } }',
    { i: householdInput(VILLAGE, { foodSecure: true, clothingSecure: true, housingSafe: true, drinkingWaterSafe: true }) })
  const readyId = ready.data.createHousehold.id as string
  await op.gql(`mutation { recordIncome(householdId: "${readyId}", input: { year: 2019, wage: 12000, business: 3000, property: 0, transfer: 1500, expenses: 1500 }) { year } }`)
  const proposed = await op.gql(`mutation { proposeExit(householdId: "${readyId}", year: 2019) { id } }`)
  const verified = await as({ sub: uniqueSub('reviewer'), role: 'REVIEWER', region: '411224101' }).gql(`mutation { verifyExit(reviewId: "${proposed.data.proposeExit.id as string}") { status } }`)
  t.same(verified.data, { verifyExit: { status: 'VERIFIED' } }, 'an exit under notice')
  const viewer = as({ sub: uniqueSub('viewer'), role: 'VIEWER', region: '411224' })
  const admin = as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
  const hospital = as({ sub: uniqueSub('hospital'), role: 'EXCHANGE', region: '4112', dept: 'health' })
  const school = as({ sub: uniqueSub('school'), role: 'EXCHANGE', region: '4112', dept: 'education' })
  const anonymous = async (url: string): Promise<LightMyRequestResponse> => await app.inject({ method: 'GET', url })
  // People sent: a work team with a member, and for the overdue list the household (its helper, never visited).
  const send = async (client: typeof op | null, method: 'PATCH' | 'POST' | 'DELETE', url: string, body?: Record<string, unknown>): Promise<LightMyRequestResponse> =>
    await app.inject({ method, url, headers: client === null ? {} : { authorization: `Bearer ${client.token}` }, ...(body !== undefined ? { payload: body } : {}) })
  const teamBody = { regionCode: VILLAGE, sendingUnit: '卢氏县农业农村局', startedOn: '2018-03-15', members: [{ name: '赵书记', unit: '卢氏县农业农村局', phone: '13712345678', role: 'FIRST_SECRETARY' }] }
  const teamCreated = await op.post('/api/v1/work-teams', teamBody)
  const team = teamCreated.json() as { id: string, members: Array<{ id: string }> }
  const town = as({ sub: uniqueSub('town'), role: 'OPERATOR', region: '411224101' })
  const endedTeam = (await town.post('/api/v1/work-teams', { ...teamBody, regionCode: '411224101200', members: [{ name: '钱队员', role: 'MEMBER' }] })).json() as { id: string, members: Array<{ id: string }> }
  const leaver = (await op.post(`/api/v1/work-teams/${team.id}/members`, { name: '孙队员', role: 'MEMBER' })).json() as { id: string }
  const NO_TEAM = '00000000-0000-4000-8000-000000000000'

  const calls: Array<[string, string, () => Promise<LightMyRequestResponse>]> = [
    ['post', '/api/v1/exchange/jobs', async () => job],
    ['post', '/api/v1/exchange/jobs', async () => await upload(hospital, 'health.vaccines', '{}', 'application/x-ndjson')],
    ['post', '/api/v1/exchange/jobs', async () => await upload(school, 'health.insurance', '{}', 'application/x-ndjson')],
    ['post', '/api/v1/exchange/jobs', async () => await upload(hospital, 'health.insurance', '%PDF-1.7', 'application/pdf')],
    ['post', '/api/v1/exchange/jobs', async () => await upload(null, 'health.insurance', '{}', 'application/x-ndjson')],
    ['post', '/api/v1/exchange/jobs', async () => { const key = uniqueSub('key'); await keyed(key, '{}\n'); return await keyed(key, '{"other":1}\n') }],
    ['post', '/api/v1/exchange/jobs', async () => {
      // The first request with the key still arriving: 409.
      const key = uniqueSub('key')
      const body = new PassThrough()
      body.write('{}\n')
      const first = keyed(key, body)
      while ((await queryRows(database.db, sql`SELECT 1 FROM exchange_jobs WHERE idempotency_key = ${key}`)).length === 0) await new Promise(resolve => setTimeout(resolve, 5))
      const second = await keyed(key, '{}\n')
      body.end()
      await first
      return second
    }],
    ['get', '/api/v1/exchange/jobs/{id}', async () => await hospital.get(`/api/v1/exchange/jobs/${jobId}`)],
    ['get', '/api/v1/exchange/jobs/{id}', async () => await viewer.get(`/api/v1/exchange/jobs/${jobId}`)],
    ['get', '/api/v1/exchange/jobs/{id}', async () => await school.get(`/api/v1/exchange/jobs/${jobId}`)],
    ['get', '/api/v1/exchange/jobs/{id}', async () => await anonymous(`/api/v1/exchange/jobs/${jobId}`)],
    ['get', '/api/v1/exchange/jobs/{id}/errors', async () => await hospital.get(`/api/v1/exchange/jobs/${jobId}/errors`)],
    ['get', '/api/v1/exchange/jobs/{id}/errors', async () => await viewer.get(`/api/v1/exchange/jobs/${jobId}/errors`)],
    ['get', '/api/v1/exchange/jobs/{id}/errors', async () => await hospital.get(`/api/v1/exchange/jobs/${jobId}/errors?format=csv`)],
    ['get', '/api/v1/exchange/jobs/{id}/errors', async () => await hospital.get(`/api/v1/exchange/jobs/${jobId}/errors?format=xlsx`)],
    ['get', '/api/v1/exchange/jobs/{id}/errors', async () => await hospital.get('/api/v1/exchange/jobs/00000000-0000-4000-8000-000000000000/errors')],
    ['get', '/api/v1/exchange/jobs/{id}/errors', async () => await anonymous(`/api/v1/exchange/jobs/${jobId}/errors`)],
    ['get', '/api/v1/exchange/jobs/{id}', async () => await hospital.get(`/api/v1/exchange/jobs/${'1'.repeat(65)}`)],
    ['get', '/api/v1/exchange/jobs/{id}/errors', async () => await hospital.get(`/api/v1/exchange/jobs/${'1'.repeat(65)}/errors`)],
    ['get', '/api/v1/exchange/jobs/{id}/report', async () => await hospital.get('/api/v1/exchange/jobs/%FF/report')],
    ['get', '/api/v1/households/{id}', async () => await op.get(`/api/v1/households/${'1'.repeat(101)}`)],
    ['post', '/api/v1/eligibility', async () => await hospital.post('/api/v1/eligibility', { nationalIds: ['1'.repeat(1_100_000)] })],
    ['post', '/api/v1/eligibility', async () => await app.inject({ method: 'POST', url: '/api/v1/eligibility', headers: { authorization: `Bearer ${hospital.token}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'nationalIds=1' })],
    ['get', '/api/v1/exchange/jobs/{id}/report', async () => await hospital.get(`/api/v1/exchange/jobs/${jobId}/report`)],
    ['get', '/api/v1/exchange/jobs/{id}/report', async () => await hospital.get(`/api/v1/exchange/jobs/${broken.json().id as string}/report`)],
    ['get', '/api/v1/exchange/jobs/{id}/report', async () => await viewer.get(`/api/v1/exchange/jobs/${jobId}/report`)],
    ['get', '/api/v1/exchange/jobs/{id}/report', async () => await school.get(`/api/v1/exchange/jobs/${jobId}/report`)],
    ['get', '/api/v1/exchange/jobs/{id}/report', async () => await anonymous(`/api/v1/exchange/jobs/${jobId}/report`)],
    ['get', '/healthz', async () => await anonymous('/healthz')],
    ['get', '/readyz', async () => await anonymous('/readyz')],
    ['get', '/healthz', async () => await anonymous('/healthz?verbose=1')],
    ['get', '/readyz', async () => await anonymous('/readyz?verbose=1')],
    // With a read replica that does not answer: listed as down (test/machine-pg/replicas.test.ts has a real one).
    ['get', '/readyz', async () => await (await replicatedApp(t)).inject('/readyz')],
    ['get', '/openapi.yaml', async () => await anonymous('/openapi.yaml')],
    ['get', '/metrics', async () => await admin.get('/metrics')],
    ['get', '/metrics', async () => await viewer.get('/metrics')],
    ['get', '/metrics', async () => await anonymous('/metrics')],
    ['get', '/api/v1/me', async () => await hospital.get('/api/v1/me')],
    ['get', '/api/v1/me', async () => await op.get('/api/v1/me')],
    ['get', '/api/v1/me', async () => await anonymous('/api/v1/me')],
    ['get', '/api/v1/regions/{code}', async () => await viewer.get('/api/v1/regions/411224')],
    ['get', '/api/v1/regions/{code}', async () => await viewer.get('/api/v1/regions/411224101201')],
    ['get', '/api/v1/regions/{code}', async () => await viewer.get('/api/v1/regions/4112x')],
    ['get', '/api/v1/regions/{code}', async () => await viewer.get('/api/v1/regions/411224999999')],
    ['get', '/api/v1/households/{id}', async () => await op.get(`/api/v1/households/${h.id}`)],
    ['get', '/api/v1/households/{id}', async () => await viewer.get(`/api/v1/households/${h.id}`)],
    ['get', '/api/v1/households/{id}', async () => await hospital.get(`/api/v1/households/${h.id}`)],
    ['get', '/api/v1/households/{id}', async () => await op.get('/api/v1/households/00000000-0000-4000-8000-000000000000')],
    ['get', '/api/v1/households', async () => await op.get('/api/v1/households?limit=1')],
    ['get', '/api/v1/households', async () => await viewer.get('/api/v1/households')],
    ['get', '/api/v1/households', async () => await op.get('/api/v1/households?limit=0')],
    ['get', '/api/v1/households', async () => await op.get('/api/v1/households?region=411221')],
    ['get', '/api/v1/households/export', async () => await op.get('/api/v1/households/export')],
    ['get', '/api/v1/households/export', async () => await viewer.get('/api/v1/households/export')],
    ['get', '/api/v1/households/export', async () => await op.get('/api/v1/households/export?format=csv&charset=gb18030')],
    ['get', '/api/v1/households/export', async () => await viewer.get('/api/v1/households/export?format=xlsx')],
    ['get', '/api/v1/households/export', async () => await op.get('/api/v1/households/export?format=ods')],
    ['get', '/api/v1/households/export', async () => await op.get('/api/v1/households/export?region=1')],
    ['get', '/api/v1/households/export', async () => await op.get('/api/v1/households/export?region=411221')],
    ['get', '/api/v1/changes', async () => await viewer.get('/api/v1/changes')],
    ['get', '/api/v1/changes', async () => await op.get('/api/v1/changes?limit=1')],
    ['get', '/api/v1/changes', async () => await op.get('/api/v1/changes?after=x')],
    ['get', '/api/v1/changes', async () => await hospital.get('/api/v1/changes')],
    ['post', '/api/v1/eligibility', async () => await hospital.post('/api/v1/eligibility', { nationalIds: [h.members[0]!.nationalId, nationalId()] })],
    ['post', '/api/v1/eligibility', async () => await hospital.post('/api/v1/eligibility', { nationalIds: ['411224197503020014'] })],
    ['post', '/api/v1/eligibility', async () => await hospital.post('/api/v1/eligibility', { nationalIds: [] })],
    ['post', '/api/v1/eligibility', async () => await school.post('/api/v1/eligibility', { nationalIds: [nationalId()] })],
    ['post', '/api/v1/eligibility', async () => await admin.post('/api/v1/eligibility', { nationalIds: [h.members[1]!.nationalId] })],
    ['post', '/api/v1/eligibility', async () => await app.inject({ method: 'POST', url: '/api/v1/eligibility', payload: { nationalIds: [nationalId()] } })],
    ['get', '/api/v1/regions/{code}', async () => await anonymous('/api/v1/regions/411224')],
    ['get', '/api/v1/households/{id}', async () => await anonymous(`/api/v1/households/${h.id}`)],
    ['get', '/api/v1/households', async () => await anonymous('/api/v1/households')],
    ['get', '/api/v1/households/export', async () => await anonymous('/api/v1/households/export')],
    ['get', '/api/v1/changes', async () => await anonymous('/api/v1/changes')],
    ['get', '/api/v1/exit-notices', async () => await viewer.get('/api/v1/exit-notices?year=2019')],
    ['get', '/api/v1/exit-notices', async () => await viewer.get('/api/v1/exit-notices?format=csv')],
    ['get', '/api/v1/exit-notices', async () => await viewer.get('/api/v1/exit-notices?format=pdf')],
    ['get', '/api/v1/exit-notices', async () => await op.get('/api/v1/exit-notices?region=411221')],
    ['get', '/api/v1/exit-notices', async () => await anonymous('/api/v1/exit-notices')],
    ['get', '/api/v1/statistics/{regionCode}', async () => await viewer.get('/api/v1/statistics/411224?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}', async () => await admin.get('/api/v1/statistics/4112?year=2019')], // the city's plan targets
    ['get', '/api/v1/statistics/{regionCode}', async () => await viewer.get('/api/v1/statistics/4112x?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}', async () => await anonymous('/api/v1/statistics/411224?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}', async () => await viewer.get('/api/v1/statistics/411221?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}', async () => await viewer.get('/api/v1/statistics/411224999999?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}/trend', async () => await viewer.get('/api/v1/statistics/411224/trend?years=2018,2019')],
    ['get', '/api/v1/statistics/{regionCode}/trend', async () => await viewer.get('/api/v1/statistics/411224/trend?years=19')],
    ['get', '/api/v1/statistics/{regionCode}/trend', async () => await anonymous('/api/v1/statistics/411224/trend?years=2019')],
    ['get', '/api/v1/statistics/{regionCode}/trend', async () => await viewer.get('/api/v1/statistics/411221/trend?years=2019')],
    ['get', '/api/v1/statistics/{regionCode}/trend', async () => await viewer.get('/api/v1/statistics/411224999999/trend?years=2019')],
    ['get', '/api/v1/statistics/{regionCode}/breakdown.csv', async () => await viewer.get('/api/v1/statistics/411224/breakdown.csv?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}/breakdown.csv', async () => await viewer.get('/api/v1/statistics/4112x/breakdown.csv?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}/breakdown.csv', async () => await anonymous('/api/v1/statistics/411224/breakdown.csv?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}/breakdown.csv', async () => await viewer.get('/api/v1/statistics/411221/breakdown.csv?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}/breakdown.csv', async () => await viewer.get('/api/v1/statistics/411224999999/breakdown.csv?year=2019')],
    ['get', '/api/v1/disclosures/funds', async () => await viewer.get('/api/v1/disclosures/funds?region=411224&year=2019')],
    ['get', '/api/v1/disclosures/funds', async () => await viewer.get('/api/v1/disclosures/funds?region=411224101&year=2019')],
    ['get', '/api/v1/disclosures/funds', async () => await viewer.get('/api/v1/disclosures/funds?region=411224&year=2019&format=csv')],
    ['get', '/api/v1/disclosures/funds', async () => await viewer.get('/api/v1/disclosures/funds?region=411224101&year=2019&format=html')],
    ['get', '/api/v1/disclosures/funds', async () => await viewer.get('/api/v1/disclosures/funds?region=411224&year=1999')],
    ['get', '/api/v1/disclosures/funds', async () => await anonymous('/api/v1/disclosures/funds?region=411224&year=2019')],
    ['get', '/api/v1/disclosures/funds', async () => await viewer.get('/api/v1/disclosures/funds?region=411221&year=2019')],
    ['get', '/api/v1/disclosures/funds', async () => await viewer.get('/api/v1/disclosures/funds?region=411224999&year=2019')],
    ['get', '/.well-known/audit-keys.json', async () => await app.inject({ method: 'GET', url: '/.well-known/audit-keys.json' })],
    ['get', '/api/v1/audit/tree-head', async () => { await sequenced(); return await admin.get('/api/v1/audit/tree-head') }],
    ['get', '/api/v1/audit/tree-head', async () => await viewer.get('/api/v1/audit/tree-head')],
    ['get', '/api/v1/audit/tree-head', async () => await anonymous('/api/v1/audit/tree-head')],
    ['get', '/api/v1/audit/proofs/inclusion', async () => await admin.get('/api/v1/audit/proofs/inclusion?seq=2')],
    ['get', '/api/v1/audit/proofs/inclusion', async () => await admin.get('/api/v1/audit/proofs/inclusion?seq=0')],
    ['get', '/api/v1/audit/proofs/inclusion', async () => await viewer.get('/api/v1/audit/proofs/inclusion?seq=1')],
    ['get', '/api/v1/audit/proofs/inclusion', async () => await anonymous('/api/v1/audit/proofs/inclusion?seq=1')],
    ['get', '/api/v1/audit/proofs/consistency', async () => await admin.get('/api/v1/audit/proofs/consistency?first=1&second=3')],
    ['get', '/api/v1/audit/proofs/consistency', async () => await admin.get('/api/v1/audit/proofs/consistency?first=3&second=1')],
    ['get', '/api/v1/audit/proofs/consistency', async () => await viewer.get('/api/v1/audit/proofs/consistency?first=1&second=3')],
    ['get', '/api/v1/audit/proofs/consistency', async () => await anonymous('/api/v1/audit/proofs/consistency?first=1&second=3')],
    ['get', '/api/v1/audit/log', async () => await admin.get('/api/v1/audit/log')],
    ['get', '/api/v1/audit/log', async () => await admin.get('/api/v1/audit/log?from=0')],
    ['get', '/api/v1/audit/log', async () => await viewer.get('/api/v1/audit/log')],
    ['get', '/api/v1/audit/log', async () => await anonymous('/api/v1/audit/log')],
    ['post', '/api/v1/work-teams', async () => teamCreated],
    ['post', '/api/v1/work-teams', async () => await op.post('/api/v1/work-teams', teamBody)],
    ['post', '/api/v1/work-teams', async () => await op.post('/api/v1/work-teams', { ...teamBody, regionCode: '411224101' })],
    ['post', '/api/v1/work-teams', async () => await viewer.post('/api/v1/work-teams', teamBody)],
    ['post', '/api/v1/work-teams', async () => await send(null, 'POST', '/api/v1/work-teams', teamBody)],
    ['get', '/api/v1/work-teams', async () => await viewer.get('/api/v1/work-teams?limit=1')],
    ['get', '/api/v1/work-teams', async () => await op.get(`/api/v1/work-teams?region=${VILLAGE}&serving=true`)],
    ['get', '/api/v1/work-teams', async () => await op.get('/api/v1/work-teams?limit=0')],
    ['get', '/api/v1/work-teams', async () => await hospital.get('/api/v1/work-teams')],
    ['get', '/api/v1/work-teams', async () => await anonymous('/api/v1/work-teams')],
    ['get', '/api/v1/work-teams/{id}', async () => await viewer.get(`/api/v1/work-teams/${team.id}`)],
    ['get', '/api/v1/work-teams/{id}', async () => await op.get(`/api/v1/work-teams/${NO_TEAM}`)],
    ['get', '/api/v1/work-teams/{id}', async () => await op.get(`/api/v1/work-teams/${'1'.repeat(65)}`)],
    ['get', '/api/v1/work-teams/{id}', async () => await hospital.get(`/api/v1/work-teams/${team.id}`)],
    ['get', '/api/v1/work-teams/{id}', async () => await anonymous(`/api/v1/work-teams/${team.id}`)],
    ['patch', '/api/v1/work-teams/{id}', async () => await send(op, 'PATCH', `/api/v1/work-teams/${team.id}`, { expectedVersion: 1, sendingUnit: '卢氏县水利局' })],
    ['patch', '/api/v1/work-teams/{id}', async () => await send(op, 'PATCH', `/api/v1/work-teams/${team.id}`, { expectedVersion: 1, sendingUnit: '某单位' })],
    ['patch', '/api/v1/work-teams/{id}', async () => await send(op, 'PATCH', `/api/v1/work-teams/${team.id}`, { expectedVersion: 2, startedOn: '2018-02-30' })],
    ['patch', '/api/v1/work-teams/{id}', async () => await send(op, 'PATCH', `/api/v1/work-teams/${NO_TEAM}`, { expectedVersion: 1, sendingUnit: '某单位' })],
    ['patch', '/api/v1/work-teams/{id}', async () => await send(viewer, 'PATCH', `/api/v1/work-teams/${team.id}`, { expectedVersion: 2, sendingUnit: '某单位' })],
    ['patch', '/api/v1/work-teams/{id}', async () => await send(null, 'PATCH', `/api/v1/work-teams/${team.id}`, { expectedVersion: 2 })],
    ['post', '/api/v1/work-teams/{id}/members', async () => await op.post(`/api/v1/work-teams/${team.id}/members`, { name: '李队长', role: 'TEAM_LEADER', phone: '13600001111' })],
    ['post', '/api/v1/work-teams/{id}/members', async () => await op.post(`/api/v1/work-teams/${team.id}/members`, { name: '另一书记', role: 'FIRST_SECRETARY' })],
    ['post', '/api/v1/work-teams/{id}/members', async () => await op.post(`/api/v1/work-teams/${NO_TEAM}/members`, { name: '某', role: 'MEMBER' })],
    ['post', '/api/v1/work-teams/{id}/members', async () => await viewer.post(`/api/v1/work-teams/${team.id}/members`, { name: '某', role: 'MEMBER' })],
    ['post', '/api/v1/work-teams/{id}/members', async () => await send(null, 'POST', `/api/v1/work-teams/${team.id}/members`, { name: '某', role: 'MEMBER' })],
    ['delete', '/api/v1/work-teams/{id}/members/{memberId}', async () => await send(op, 'DELETE', `/api/v1/work-teams/${team.id}/members/${leaver.id}`)],
    ['delete', '/api/v1/work-teams/{id}/members/{memberId}', async () => await send(op, 'DELETE', `/api/v1/work-teams/${team.id}/members/${leaver.id}`)],
    ['delete', '/api/v1/work-teams/{id}/members/{memberId}', async () => await send(op, 'DELETE', `/api/v1/work-teams/${team.id}/members/${team.members[0]!.id}?leftOn=2017-01-01`)],
    ['delete', '/api/v1/work-teams/{id}/members/{memberId}', async () => await send(town, 'DELETE', `/api/v1/work-teams/${endedTeam.id}/members/${team.members[0]!.id}`)],
    ['delete', '/api/v1/work-teams/{id}/members/{memberId}', async () => await send(viewer, 'DELETE', `/api/v1/work-teams/${team.id}/members/${team.members[0]!.id}`)],
    ['delete', '/api/v1/work-teams/{id}/members/{memberId}', async () => await send(null, 'DELETE', `/api/v1/work-teams/${team.id}/members/${team.members[0]!.id}`)],
    ['post', '/api/v1/work-teams/{id}/end', async () => await send(town, 'POST', `/api/v1/work-teams/${endedTeam.id}/end`, { expectedVersion: 1, endedOn: '2020-12-31' })],
    ['post', '/api/v1/work-teams/{id}/end', async () => await send(town, 'POST', `/api/v1/work-teams/${endedTeam.id}/end`, { expectedVersion: 2 })],
    ['post', '/api/v1/work-teams/{id}/end', async () => await send(op, 'POST', `/api/v1/work-teams/${team.id}/end`, { expectedVersion: 2, endedOn: '2017-01-01' })],
    ['post', '/api/v1/work-teams/{id}/end', async () => await send(op, 'POST', `/api/v1/work-teams/${NO_TEAM}/end`, { expectedVersion: 1 })],
    ['post', '/api/v1/work-teams/{id}/end', async () => await send(viewer, 'POST', `/api/v1/work-teams/${team.id}/end`, { expectedVersion: 2 })],
    ['post', '/api/v1/work-teams/{id}/end', async () => await send(null, 'POST', `/api/v1/work-teams/${team.id}/end`, { expectedVersion: 2 })],
    ['post', '/api/v1/work-teams/{id}/members', async () => await town.post(`/api/v1/work-teams/${endedTeam.id}/members`, { name: '晚到', role: 'MEMBER' })],
    ['get', '/api/v1/households/unvisited', async () => await viewer.get('/api/v1/households/unvisited?limit=1')],
    ['get', '/api/v1/households/unvisited', async () => await op.get(`/api/v1/households/unvisited?region=${VILLAGE}&days=30`)],
    ['get', '/api/v1/households/unvisited', async () => await op.get('/api/v1/households/unvisited?days=0')],
    ['get', '/api/v1/households/unvisited', async () => await op.get('/api/v1/households/unvisited?region=411221')],
    ['get', '/api/v1/households/unvisited', async () => await anonymous('/api/v1/households/unvisited')]
  ]

  // Projects and funds: a project with a beneficiary, an allocation and a payment; every status of every operation.
  const countyOp = as({ sub: uniqueSub('op'), role: 'OPERATOR', region: '411224' })
  const countyReviewer = as({ sub: uniqueSub('reviewer'), role: 'REVIEWER', region: '411224' })
  const post = async (url: string, body: unknown): Promise<LightMyRequestResponse> => await app.inject({ method: 'POST', url, payload: body as Record<string, unknown> })
  const projectBody = { regionCode: VILLAGE, name: '龙王庙村香菇大棚', category: 'INDUSTRY', plannedStart: '2019-03-01', plannedEnd: '2019-12-31', budget: 100000 }
  const project = (await countyOp.post('/api/v1/projects', projectBody)).json() as { id: string }
  const planned = (await countyOp.post('/api/v1/projects', { ...projectBody, code: uniqueSub('P') })).json() as { id: string }
  const none = '00000000-0000-4000-8000-000000000000'
  calls.push(
    ['post', '/api/v1/projects', async () => await countyOp.post('/api/v1/projects', { ...projectBody, plannedEnd: null, code: null })],
    ['post', '/api/v1/projects', async () => await countyOp.post('/api/v1/projects', { ...projectBody, budget: 0.001 })],
    ['post', '/api/v1/projects', async () => await countyOp.post('/api/v1/projects', { ...projectBody, regionCode: '411282100001' })],
    ['post', '/api/v1/projects', async () => await post('/api/v1/projects', projectBody)],
    ['post', '/api/v1/projects/{id}/approve', async () => await countyOp.post(`/api/v1/projects/${project.id}/approve`, {})],
    ['post', '/api/v1/projects/{id}/approve', async () => await countyReviewer.post(`/api/v1/projects/${none}/approve`, {})],
    ['post', '/api/v1/projects/{id}/approve', async () => await post(`/api/v1/projects/${project.id}/approve`, {})],
    ['post', '/api/v1/projects/{id}/approve', async () => await countyReviewer.post(`/api/v1/projects/${project.id}/approve`, {})],
    ['post', '/api/v1/projects/{id}/approve', async () => await countyReviewer.post(`/api/v1/projects/${project.id}/approve`, {})],
    ['post', '/api/v1/projects/{id}/beneficiaries', async () => await countyOp.post(`/api/v1/projects/${project.id}/beneficiaries`, { householdIds: [h.id] })],
    ['post', '/api/v1/projects/{id}/beneficiaries', async () => await countyOp.post(`/api/v1/projects/${project.id}/beneficiaries`, { householdIds: [none] })],
    ['post', '/api/v1/projects/{id}/beneficiaries', async () => await viewer.post(`/api/v1/projects/${project.id}/beneficiaries`, { householdIds: [h.id] })],
    ['post', '/api/v1/projects/{id}/beneficiaries', async () => await countyOp.post(`/api/v1/projects/${none}/beneficiaries`, { householdIds: [h.id] })],
    ['post', '/api/v1/projects/{id}/beneficiaries', async () => await post(`/api/v1/projects/${project.id}/beneficiaries`, { householdIds: [h.id] })],
    ['post', '/api/v1/projects/{id}/allocations', async () => await countyOp.post(`/api/v1/projects/${project.id}/allocations`, { source: 'CENTRAL', amount: 5000, documentNo: '豫财农〔2019〕12号', date: '2019-03-10' })],
    ['post', '/api/v1/projects/{id}/allocations', async () => await countyOp.post(`/api/v1/projects/${project.id}/allocations`, { source: 'BANK', amount: 5000, documentNo: 'x', date: '2019-03-10' })],
    ['post', '/api/v1/projects/{id}/allocations', async () => await viewer.post(`/api/v1/projects/${project.id}/allocations`, { source: 'CENTRAL', amount: 1, documentNo: 'x', date: '2019-03-10' })],
    ['post', '/api/v1/projects/{id}/allocations', async () => await countyOp.post(`/api/v1/projects/${none}/allocations`, { source: 'CENTRAL', amount: 1, documentNo: 'x', date: '2019-03-10' })],
    ['post', '/api/v1/projects/{id}/allocations', async () => await post(`/api/v1/projects/${project.id}/allocations`, { source: 'CENTRAL', amount: 1, documentNo: 'x', date: '2019-03-10' })],
    ['post', '/api/v1/projects/{id}/payments', async () => await countyOp.post(`/api/v1/projects/${project.id}/payments`, { householdId: h.id, amount: 3000, date: '2019-06-01', account: '6222020200112233445', reference: 'PZ-1' })],
    ['post', '/api/v1/projects/{id}/payments', async () => await countyOp.post(`/api/v1/projects/${project.id}/payments`, { householdId: h.id, amount: 2000.01, date: '2019-06-01' })],
    ['post', '/api/v1/projects/{id}/payments', async () => await countyOp.post(`/api/v1/projects/${planned.id}/payments`, { householdId: h.id, amount: 1, date: '2019-06-01' })],
    ['post', '/api/v1/projects/{id}/payments', async () => await viewer.post(`/api/v1/projects/${project.id}/payments`, { householdId: h.id, amount: 1, date: '2019-06-01' })],
    ['post', '/api/v1/projects/{id}/payments', async () => await countyOp.post(`/api/v1/projects/${none}/payments`, { householdId: h.id, amount: 1, date: '2019-06-01' })],
    ['post', '/api/v1/projects/{id}/payments', async () => await post(`/api/v1/projects/${project.id}/payments`, { householdId: h.id, amount: 1, date: '2019-06-01' })],
    ['post', '/api/v1/projects/{id}/status', async () => await countyOp.post(`/api/v1/projects/${project.id}/status`, { status: 'IN_PROGRESS', expectedVersion: 2 })],
    ['post', '/api/v1/projects/{id}/status', async () => await countyOp.post(`/api/v1/projects/${project.id}/status`, { status: 'COMPLETED', expectedVersion: 2 })],
    ['post', '/api/v1/projects/{id}/status', async () => await countyOp.post(`/api/v1/projects/${project.id}/status`, { status: 'DONE', expectedVersion: 3 })],
    ['post', '/api/v1/projects/{id}/status', async () => await viewer.post(`/api/v1/projects/${project.id}/status`, { status: 'COMPLETED', expectedVersion: 3 })],
    ['post', '/api/v1/projects/{id}/status', async () => await countyOp.post(`/api/v1/projects/${none}/status`, { status: 'COMPLETED', expectedVersion: 3 })],
    ['post', '/api/v1/projects/{id}/status', async () => await post(`/api/v1/projects/${project.id}/status`, { status: 'COMPLETED', expectedVersion: 3 })],
    ['post', '/api/v1/projects/{id}/beneficiaries', async () => { await countyOp.post(`/api/v1/projects/${planned.id}/status`, { status: 'CANCELLED', expectedVersion: 1 }); return await countyOp.post(`/api/v1/projects/${planned.id}/beneficiaries`, { householdIds: [h.id] }) }],
    ['post', '/api/v1/projects/{id}/allocations', async () => await countyOp.post(`/api/v1/projects/${planned.id}/allocations`, { source: 'CENTRAL', amount: 1, documentNo: 'x', date: '2019-03-10' })],
    ['get', '/api/v1/projects/{id}', async () => await viewer.get(`/api/v1/projects/${project.id}`)],
    ['get', '/api/v1/projects/{id}', async () => await hospital.get(`/api/v1/projects/${project.id}`)],
    ['get', '/api/v1/projects/{id}', async () => await viewer.get(`/api/v1/projects/${none}`)],
    ['get', '/api/v1/projects/{id}', async () => await anonymous(`/api/v1/projects/${project.id}`)],
    ['get', '/api/v1/projects', async () => await viewer.get('/api/v1/projects?limit=1')],
    ['get', '/api/v1/projects', async () => await viewer.get('/api/v1/projects?status=DONE')],
    ['get', '/api/v1/projects', async () => await viewer.get('/api/v1/projects?region=411282')],
    ['get', '/api/v1/projects', async () => await anonymous('/api/v1/projects')],
    ['get', '/api/v1/statistics/{regionCode}/funds', async () => await viewer.get('/api/v1/statistics/411224/funds?year=2019')],
    ['get', '/api/v1/statistics/{regionCode}/funds', async () => await viewer.get('/api/v1/statistics/411224101201/funds')],
    ['get', '/api/v1/statistics/{regionCode}/funds', async () => await viewer.get('/api/v1/statistics/411224/funds?year=1999')],
    ['get', '/api/v1/statistics/{regionCode}/funds', async () => await viewer.get('/api/v1/statistics/411282/funds')],
    ['get', '/api/v1/statistics/{regionCode}/funds', async () => await viewer.get('/api/v1/statistics/411224999999/funds')],
    ['get', '/api/v1/statistics/{regionCode}/funds', async () => await anonymous('/api/v1/statistics/411224/funds')],
    ['get', '/api/v1/projects/{id}', async () => await viewer.get(`/api/v1/projects/${'1'.repeat(65)}`)],
    ['post', '/api/v1/projects/{id}/approve', async () => await countyReviewer.post('/api/v1/projects/%FF%FE/approve', {})],
    ...(['', '/approve', '/status', '/beneficiaries', '/allocations', '/payments'] as const).map((tail): [string, string, () => Promise<LightMyRequestResponse>] =>
      ['post', `/api/v1/projects${tail === '' ? '' : '/{id}' + tail}`, async () => await app.inject({ method: 'POST', url: `/api/v1/projects${tail === '' ? '' : `/${project.id}${tail}`}`, headers: { authorization: `Bearer ${(tail === '/approve' ? countyReviewer : countyOp).token}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' })])
  )

  // Import jobs: one that applies a row and rejects one, and one whose file cannot be read.
  const upload = async (client: typeof hospital | null, kind: string, body: string, contentType: string): Promise<LightMyRequestResponse> =>
    await app.inject({ method: 'POST', url: `/api/v1/exchange/jobs?kind=${kind}`, headers: { ...(client === null ? {} : { authorization: `Bearer ${client.token}` }), 'content-type': contentType }, payload: body })
  const keyed = async (key: string, body: string | PassThrough): Promise<LightMyRequestResponse> =>
    await app.inject({ method: 'POST', url: '/api/v1/exchange/jobs?kind=health.insurance', headers: { authorization: `Bearer ${hospital.token}`, 'content-type': 'application/x-ndjson', 'idempotency-key': key }, payload: body })
  const finished = async (id: string): Promise<void> => {
    for (let i = 0; i < 400; i++) {
      if (['succeeded', 'failed'].includes((await hospital.get(`/api/v1/exchange/jobs/${id}`)).json().status as string)) return
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    throw new Error('the job did not finish')
  }
  await hospital.get('/api/v1/me') // the clients' tokens are ready once they have made a request
  await school.get('/api/v1/me')
  // The member is now uninsured: the report has a work item (UNINSURED).
  const rows = [{ national_id: h.members[0]!.nationalId, year: 2019, medical_insurance: false, serious_illness_insurance: true }, { national_id: '411224197503020014', year: 2019, medical_insurance: true, serious_illness_insurance: false }]
  const job = await upload(hospital, 'health.insurance', rows.map(r => JSON.stringify(r)).join('\n') + '\n', 'application/x-ndjson')
  const jobId = job.json().id as string
  await finished(jobId)
  const broken = await upload(hospital, 'health.insurance', 'not a spreadsheet', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
  await finished(broken.json().id as string)

  for (const [method, path, call] of calls) conforms(t, method, path, await call())
})

/** The statuses every test here has called, as `method path status`. */
const seen = new Set<string>()

/** Checks an answer against the operation's documented response: status, media type, body (each NDJSON line, of which there must be one). */
function conforms (t: Test, method: string, path: string, res: LightMyRequestResponse): void {
  const label = `${method.toUpperCase()} ${path} → ${res.statusCode}`
  const problems = nonConformance(method, path, res)
  t.same(problems, [], label)
  if (problems.length === 0) seen.add(`${method} ${path} ${res.statusCode}`)
  if (String(res.headers['content-type']).startsWith('application/x-ndjson')) t.ok(res.body.trim() !== '', `${label}: lines to check`)
}

t.test('the HTTP limits answer as documented on every operation: 413, 429 and 503 with Retry-After', async (t) => {
  const url = (path: string): string => path.replace('{id}', '00000000-0000-4000-8000-000000000000').replace(/\{(code|regionCode)\}/, '411224')
  const documenting = (status: string): typeof operations => operations.filter(({ op }) => op.responses[status] !== undefined)
  const admin = { sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' } as const

  // Budgets of one request a minute: the second request of a user, or of an address without a token, is refused.
  const { app: limited, as } = await buildApp(t, { config: testConfig({ RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_IP_PER_MINUTE: '1', BODY_LIMIT_KB: '16', IMPORT_MAX_MB: '1' }) })
  const spent = as(admin)
  await spent.get('/api/v1/me')
  await limited.inject({ url: '/openapi.yaml', remoteAddress: '10.0.0.9' })
  for (const { path, method, op } of documenting('429')) {
    const res = op.security !== undefined
      ? await limited.inject({ method: method.toUpperCase() as 'GET', url: url(path), remoteAddress: '10.0.0.9' })
      : await limited.inject({ method: method.toUpperCase() as 'GET', url: url(path), headers: { authorization: `Bearer ${spent.token}` } })
    t.equal(res.statusCode, 429, `${method} ${path}`)
    t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After')
    conforms(t, method, path, res)
  }
  for (const { path, method } of documenting('413')) {
    const fresh = as({ ...admin, sub: uniqueSub('admin') })
    await fresh.get('/healthz') // the token is ready
    // JSON bodies over BODY_LIMIT_KB; the import's streamed file over IMPORT_MAX_MB.
    const res = path === '/api/v1/exchange/jobs'
      ? await limited.inject({ method: 'POST', url: url(path) + '?kind=health.insurance', headers: { authorization: `Bearer ${fresh.token}`, 'content-type': 'application/x-ndjson' }, payload: '{}\n'.repeat(400_000) })
      : await limited.inject({ method: 'POST', url: url(path), headers: { authorization: `Bearer ${fresh.token}` }, payload: { nationalIds: ['x'.repeat(20_000)] } })
    t.equal(res.statusCode, 413, `${method} ${path}`)
    conforms(t, method, path, res)
  }

  // Load shedding: any heap is over 1 MiB, so from the first sample (each second) on every request is shed.
  const { app: shedding } = await buildApp(t, { config: testConfig({ LOAD_SHED_HEAP_MB: '1' }) })
  await new Promise(resolve => setTimeout(resolve, 1200))
  for (const { path, method } of documenting('503').filter(({ path }) => path !== '/readyz')) {
    const res = await shedding.inject({ method: method.toUpperCase() as 'GET', url: url(path) })
    t.equal(res.statusCode, 503, `${method} ${path}`)
    t.equal(res.headers['retry-after'], '10')
    conforms(t, method, path, res)
  }
})

// Every documented operation and status was called (/readyz 503 needs the database down: see health.test.ts).
t.test('every documented response was exercised', async (t) => {
  const notExercised = operations.flatMap(({ path, method, op }) => Object.keys(op.responses).map(status => `${method} ${path} ${status}`))
    .filter(k => !seen.has(k) && k !== 'get /readyz 503')
  t.same(notExercised, [], 'every documented response was exercised')
})

// Each documented field of a JSON answer was returned at least once, and a field that was returned in every answer is required.
t.test('every documented field is returned, and one always returned is required', async (t) => {
  const documented = new Map<string, boolean>()
  for (const { path, method, op } of operations) {
    for (const [status, r] of Object.entries(op.responses)) {
      if (`${method} ${path} ${status}` === 'get /readyz 503') continue
      for (const [media, content] of Object.entries(responseOf(r).content ?? {})) {
        if (content.schema !== undefined && media.endsWith('json')) documentedProperties(content.schema, mediaPointer(method, path, status, media), documented)
      }
    }
  }
  const never = [...documented.keys()].filter(k => (observed.get(k)?.present ?? 0) === 0)
  const alwaysButOptional = [...documented].filter(([k, required]) => !required && observed.get(k) !== undefined && observed.get(k)!.present === observed.get(k)!.objects)
  t.same(never, [], 'documented fields that no answer returned')
  t.same(alwaysButOptional, [], 'fields every answer returned that are not documented as required')
})
