import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import ExcelJS from 'exceljs'
import iconv from 'iconv-lite'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import type { TokenClaims } from '../src/infra/tokens.js'
import { memberInput, nationalId } from './fixtures.js'
import { buildApp, freshDatabase, testConfig, testDatabase, uniqueSub } from './helper.js'
import { auditsOf, COUNTY, csv, finished, household, member, NDJSON, ndjson, OTHER_COUNTY_VILLAGE, SIBLING, uploader, VILLAGE, XLSX } from './imports-support.js'
import { pageBothWays } from './paging.js'

t.test('civil_affairs.dibao (NDJSON): valid, invalid and unmatched rows, the quarterly comparison as work items, idempotent retries', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const siblingOp = app.as({ sub: uniqueSub('op2'), role: 'OPERATOR', region: SIBLING })
  const exchange: TokenClaims = { sub: uniqueSub('mz'), role: 'EXCHANGE', dept: 'civil_affairs', region: COUNTY }
  const reader = app.as(exchange)
  const onRoster = nationalId('1961-02-03', 'MALE')
  const flaggedOnly = nationalId('1963-04-05', 'FEMALE')
  const h = await household(op, VILLAGE, [
    memberInput({ name: '周金山', nationalId: onRoster }),
    memberInput({ name: '吴秀兰', relation: 'SPOUSE', nationalId: flaggedOnly, dibao: true })
  ])
  const elsewhereId = nationalId('1970-07-07', 'MALE')
  await household(app.as({ sub: uniqueSub('op3'), role: 'OPERATOR', region: OTHER_COUNTY_VILLAGE }), OTHER_COUNTY_VILLAGE, [memberInput({ name: '郑长江', nationalId: elsewhereId })])
  const stranger = nationalId('1959-09-09', 'FEMALE')
  const badCheck = onRoster.slice(0, 17) + (onRoster[17] === '0' ? '1' : '0')
  const body = ndjson([
    { national_id: onRoster, name: '周金山', status: 'active', start_date: '2018-03-01', monthly_amount: 260 },
    { national_id: stranger, name: '冯桂英', status: 'active', start_date: '2018-05-01', monthly_amount: 240 },
    { national_id: badCheck, name: '周金山', status: 'active', start_date: '2018-03-01', monthly_amount: 260 },
    { national_id: elsewhereId, name: '郑长江', status: 'active', start_date: '2018-03-01', monthly_amount: 260 },
    '',
    { national_id: onRoster, name: '周金山', start_date: '2030-01-01', monthly_amount: -1 },
    '{ not json'
  ])
  const key = uniqueSub('key')
  const submitted = await upload(exchange, 'civil_affairs.dibao', body, NDJSON, key)
  t.equal(submitted.status, 202)
  t.match(submitted.json, { kind: 'civil_affairs.dibao', status: 'queued', format: 'ndjson', charset: 'utf-8' })
  const job = await finished(reader, submitted.json.id)
  t.match(job, { status: 'succeeded', counts: { received: 6, applied: 1, unmatched: 2, rejected: 3 } })

  const members = await member(op, h.id)
  t.equal(members.find((m: any) => m.name === '周金山').dibao, true, 'the roster row applied')
  t.equal(members.find((m: any) => m.name === '吴秀兰').dibao, true, 'not on the roster: left as it is, and reported')
  const errors = (await reader.get(`/api/v1/exchange/jobs/${job.id}/errors`))
  t.match(errors.headers['content-type'], /application\/x-ndjson/)
  t.same(errors.body.trim().split('\n').map(l => JSON.parse(l)), [
    { line: 3, path: 'national_id', message: 'check digit does not match' },
    { line: 6, path: 'monthly_amount', message: 'must be from 0 to 100000' },
    { line: 6, path: 'start_date', message: 'must not be in the future' },
    { line: 6, path: 'status', message: 'is required' },
    { line: 7, path: '', message: 'is not valid JSON' }
  ])
  const audits = await auditsOf(app.database, job.id)
  t.same(audits.map(a => [a.entity_id, a.action, a.after]), [[h.members[0]!.id, 'exchange.civil_affairs.dibao', { dibao: true }]], 'one audit entry per applied row, with the job as its source')

  const report = (await reader.get(`/api/v1/exchange/jobs/${job.id}/report`)).json()
  // A person registered in another county is outside the department's area: not registered, as far as it may know.
  t.same(report.findings, { DIBAO_NOT_REGISTERED: 2, DIBAO_NOT_ON_ROSTER: 1, DIBAO_ATTRIBUTE_MISMATCH: 1 })
  t.same(report.items.filter((i: any) => i.finding === 'DIBAO_NOT_REGISTERED').map((i: any) => i.detail.line).sort(), [2, 4])
  const byFinding = Object.fromEntries(report.items.map((i: any) => [i.finding === 'DIBAO_NOT_REGISTERED' ? `${i.finding}:${i.detail.line}` : i.finding, i]))
  t.match(byFinding['DIBAO_NOT_REGISTERED:2'], { regionCode: COUNTY, householdId: null, detail: { line: 2, name: '冯桂英', nationalId: stranger.slice(0, 6) + '********' + stranger.slice(14) } })
  t.match(byFinding.DIBAO_NOT_ON_ROSTER, { regionCode: VILLAGE, householdId: h.id, memberId: h.members[1]!.id })
  t.match(byFinding.DIBAO_ATTRIBUTE_MISMATCH, { regionCode: VILLAGE, householdId: h.id, memberId: h.members[0]!.id })
  t.notOk(JSON.stringify(report).includes(stranger), 'no ID number in the clear')

  // The same key again: the same job, nothing imported twice.
  const retry = await upload(exchange, 'civil_affairs.dibao', body, NDJSON, key)
  t.equal(retry.status, 202)
  t.equal(retry.json.id, job.id)
  await sleep(100)
  t.equal((await auditsOf(app.database, job.id)).length, 1)

  // The village's operators see and resolve the items routed to them; others do not.
  const WORK = 'query ($f: WorkItemFilter) { workItems(filter: $f) { totalCount edges { node { id finding memberId status version } } } }'
  const mine = (await op.gql(WORK, { f: { jobId: job.id } })).data.workItems
  t.same(mine.edges.map((e: any) => e.node.finding).sort(), ['DIBAO_ATTRIBUTE_MISMATCH', 'DIBAO_NOT_ON_ROSTER'])
  const paged = await pageBothWays(t, op, { field: 'workItems', args: ['$f: WorkItemFilter', 'filter: $f'], variables: { f: { jobId: job.id } }, select: 'id', idOf: n => n.id }, 1)
  t.same(paged, mine.edges.map((e: any) => e.node.id).sort(), 'work items page forward and back, by id')
  t.equal((await siblingOp.gql(WORK, { f: { jobId: job.id } })).data.workItems.totalCount, 0)
  const RESOLVE = 'mutation ($id: ID!, $d: WorkItemDisposition!, $n: String) { resolveWorkItem(id: $id, disposition: $d, note: $n) { status disposition note resolvedBy } }'
  const item = mine.edges[0].node
  t.equal((await siblingOp.gql(RESOLVE, { id: item.id, d: 'FALSE_MATCH' })).errors?.[0]?.extensions.code, 'NOT_FOUND')
  t.equal((await app.as({ sub: uniqueSub('v'), role: 'VIEWER', region: VILLAGE }).gql(RESOLVE, { id: item.id, d: 'FALSE_MATCH' })).errors?.[0]?.extensions.code, 'FORBIDDEN')
  const STALE = 'mutation ($id: ID!, $v: Int) { resolveWorkItem(id: $id, disposition: FALSE_MATCH, expectedVersion: $v) { status } }'
  t.equal((await op.gql(STALE, { id: item.id, v: item.version + 1 })).errors?.[0]?.extensions.code, 'CONFLICT', 'a stale expectedVersion is CONFLICT')
  t.match((await op.gql(WORK, { f: { jobId: job.id } })).data.workItems.edges.find((e: any) => e.node.id === item.id).node, { status: 'OPEN', version: item.version }, 'and changes nothing')
  t.match((await op.gql(RESOLVE, { id: item.id, d: 'NEEDS_VISIT', n: '待入户' })).data.resolveWorkItem, { status: 'OPEN', disposition: 'NEEDS_VISIT', note: '待入户' })
  t.match((await op.gql(RESOLVE, { id: item.id, d: 'CONFIRMED_FIXED', n: '已更正属性' })).data.resolveWorkItem, { status: 'RESOLVED', disposition: 'CONFIRMED_FIXED' })
  t.equal((await op.gql(RESOLVE, { id: item.id, d: 'FALSE_MATCH' })).errors?.[0]?.extensions.code, 'CONFLICT')
})

t.test('civil_affairs.deaths (CSV with BOM) by public security: households left with nobody living are reported', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const police: TokenClaims = { sub: uniqueSub('ga'), role: 'EXCHANGE', dept: 'public_security', region: COUNTY }
  const alone = nationalId('1931-01-01', 'MALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '萧来福', nationalId: alone, laborCapacity: 'NONE' })])
  const stranger = nationalId('1940-04-04', 'FEMALE')
  const body = '\uFEFF' + csv(['national_id', 'name', 'date_of_death'], [[alone, '萧来福', '2019-06-30'], [stranger, '某某', '2019-01-01'], [alone, '萧来福', '2019-02-30']])
  t.equal((await upload({ ...police, dept: 'health' }, 'civil_affairs.deaths', body, 'text/csv')).status, 403, 'health may not report deaths')
  const submitted = await upload(police, 'civil_affairs.deaths', body, 'text/csv; charset=utf-8')
  const job = await finished(app.as(police), submitted.json.id)
  t.match(job, { status: 'succeeded', format: 'csv', counts: { received: 3, applied: 1, unmatched: 1, rejected: 1 } })
  t.equal((await member(op, h.id))[0].deceasedAt, '2019-06-30')
  t.same((await app.as(police).get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim().split('\n').map(l => JSON.parse(l)), [{ line: 4, path: 'date_of_death', message: 'must be a date YYYY-MM-DD' }])
  const report = (await app.as(police).get(`/api/v1/exchange/jobs/${job.id}/report`)).json()
  t.same(report.items.map((i: any) => [i.finding, i.householdId, i.regionCode]), [['NO_LIVING_MEMBER', h.id, VILLAGE]])
})

t.test('health.insurance (CSV in GB18030 with 是/否): the flags are applied and uninsured members are listed', async (t) => {
  const app = await buildApp(t, { database: await freshDatabase() })
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const health: TokenClaims = { sub: uniqueSub('wj'), role: 'EXCHANGE', dept: 'health', region: COUNTY }
  const a = nationalId('1972-03-03', 'MALE')
  const b = nationalId('1974-05-05', 'FEMALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '林永刚', nationalId: a }), memberInput({ name: '何玉梅', relation: 'SPOUSE', nationalId: b })])
  const text = csv(['national_id', 'year', 'medical_insurance', 'serious_illness_insurance', '备注'], [[a, 2019, '否', '否', '断缴'], [b, 2019, '是', '是', '正常'], [b, 2019, '也许', '是', '']])
  const body = iconv.encode(text, 'gb18030')
  t.notOk(body.equals(Buffer.from(text)), 'the file really is GB18030')
  const submitted = await upload(health, 'health.insurance', body, 'text/csv; charset=GB18030')
  t.match(submitted.json, { charset: 'gb18030' })
  const job = await finished(app.as(health), submitted.json.id)
  t.match(job, { status: 'succeeded', counts: { received: 3, applied: 2, unmatched: 0, rejected: 1 } })
  const members = await member(op, h.id)
  t.match(members.find((m: any) => m.name === '林永刚'), { medicalInsurance: false, seriousIllnessInsurance: false })
  t.match(members.find((m: any) => m.name === '何玉梅'), { medicalInsurance: true, seriousIllnessInsurance: true })
  const report = (await app.as(health).get(`/api/v1/exchange/jobs/${job.id}/report`)).json()
  t.same(report.items.map((i: any) => [i.finding, i.memberId, i.detail.name]), [['UNINSURED', h.members.find(m => m.name === '林永刚')!.id, '林永刚']])
  t.same((await app.as(health).get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim(), JSON.stringify({ line: 4, path: 'medical_insurance', message: 'must be true or false' }))
})

t.test('education.enrollment (CSV and NDJSON): schooling follows the school roll; dropouts are reported', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const edu: TokenClaims = { sub: uniqueSub('jy'), role: 'EXCHANGE', dept: 'education', region: COUNTY }
  const kid1 = nationalId('2008-03-03', 'MALE')
  const kid2 = nationalId('2010-06-06', 'FEMALE')
  const h = await household(op, VILLAGE, [
    memberInput({ name: '马德福', nationalId: nationalId('1978-01-01', 'MALE') }),
    memberInput({ name: '马小军', relation: 'CHILD', nationalId: kid1, laborCapacity: 'NONE', schooling: 'JUNIOR_HIGH' }),
    memberInput({ name: '马小燕', relation: 'CHILD', nationalId: kid2, laborCapacity: 'NONE', schooling: 'NOT_IN_SCHOOL' })
  ])
  const first = await upload(edu, 'education.enrollment', csv(['national_id', 'name', 'stage', 'status'], [[kid1, '马小军', 'JUNIOR_HIGH', 'dropped_out'], [kid2, '马小燕', 'primary', 'enrolled'], [kid2, '马小燕', 'KINDERGARTEN', 'enrolled']]), 'text/csv')
  const job = await finished(app.as(edu), first.json.id)
  t.match(job, { counts: { applied: 2, rejected: 1 } })
  let members = await member(op, h.id)
  t.equal(members.find((m: any) => m.name === '马小军').schooling, 'DROPPED_OUT')
  t.equal(members.find((m: any) => m.name === '马小燕').schooling, 'PRIMARY')
  const report = (await app.as(edu).get(`/api/v1/exchange/jobs/${job.id}/report`)).json()
  t.same(report.items.map((i: any) => [i.finding, i.detail.name]), [['DROPOUT', '马小军']])
  const second = await upload(edu, 'education.enrollment', ndjson([{ national_id: kid1, name: '马小军', stage: 'JUNIOR_HIGH', status: 'enrolled' }]), NDJSON)
  t.match(await finished(app.as(edu), second.json.id), { counts: { applied: 1 } })
  members = await member(op, h.id)
  t.equal(members.find((m: any) => m.name === '马小军').schooling, 'JUNIOR_HIGH', 'back in school')
})

t.test('disability.certificates (.xlsx, first sheet): DISABLED added with the grade; bad rows named by their spreadsheet row', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const cdpf: TokenClaims = { sub: uniqueSub('cl'), role: 'EXCHANGE', dept: 'disability', region: COUNTY }
  const a = nationalId('1969-09-19', 'MALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '罗保国', nationalId: a, healthConditions: ['CHRONIC_ILLNESS'] })])
  const workbook = new ExcelJS.Workbook()
  const sheet = workbook.addWorksheet('残疾人证')
  sheet.addRow(['national_id', 'name', 'grade'])
  sheet.addRow([a, '罗保国', 2])
  sheet.addRow([nationalId('1980-08-08', 'FEMALE'), '未登记', 3])
  sheet.addRow([a, '罗保国', 5])
  workbook.addWorksheet('其他').addRow(['ignored'])
  const body = Buffer.from(await workbook.xlsx.writeBuffer())
  const submitted = await upload(cdpf, 'disability.certificates', body, XLSX)
  t.match(submitted.json, { format: 'xlsx' })
  const job = await finished(app.as(cdpf), submitted.json.id)
  t.match(job, { status: 'succeeded', counts: { received: 3, applied: 1, unmatched: 1, rejected: 1 } })
  t.match((await member(op, h.id))[0], { healthConditions: ['CHRONIC_ILLNESS', 'DISABLED'], disabilityGrade: 2 })
  t.same((await app.as(cdpf).get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim(), JSON.stringify({ line: 4, path: 'grade', message: 'must be from 1 to 4' }))
  t.same((await app.as(cdpf).get(`/api/v1/exchange/jobs/${job.id}/report`)).json().findings, { NEWLY_DISABLED: 1 })

  const broken = await upload(cdpf, 'disability.certificates', Buffer.from('PK not really a zip'), XLSX)
  t.match(await finished(app.as(cdpf), broken.json.id), { status: 'failed', error: /cannot be read/ })
})

t.test('hr.employment (NDJSON and CSV): employment applied; willing, able, unemployed members reported', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const hr: TokenClaims = { sub: uniqueSub('rs'), role: 'EXCHANGE', dept: 'hr', region: COUNTY }
  const worker = nationalId('1985-05-15', 'MALE')
  const idle = nationalId('1987-07-17', 'FEMALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '宋振华', nationalId: worker }), memberInput({ name: '唐海燕', relation: 'SPOUSE', nationalId: idle, wantsWork: true })])
  const a = await upload(hr, 'hr.employment', ndjson([{ national_id: worker, employment: 'MIGRANT', months: 10, monthly_income: 3500.5 }, { national_id: idle, employment: 'unemployed', months: 0, monthly_income: 0 }, { national_id: idle, employment: 'RETIRED', months: 13, monthly_income: 1 }]), NDJSON)
  const job = await finished(app.as(hr), a.json.id)
  t.match(job, { counts: { applied: 2, rejected: 1 } })
  t.match((await member(op, h.id)).find((m: any) => m.name === '宋振华'), { employment: 'MIGRANT', employmentMonths: 10, monthlyIncome: 3500.5 })
  t.same((await app.as(hr).get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim().split('\n').map(l => JSON.parse(l).path), ['employment', 'months'])
  t.same((await app.as(hr).get(`/api/v1/exchange/jobs/${job.id}/report`)).json().items.map((i: any) => [i.finding, i.detail.name]), [['UNEMPLOYED_WILLING', '唐海燕']])
  const b = await upload(hr, 'hr.employment', csv(['national_id', 'employment', 'months', 'monthly_income'], [[idle, 'PUBLIC_WELFARE_POST', 12, 500]]), 'text/csv')
  t.match(await finished(app.as(hr), b.json.id), { counts: { applied: 1 } })
  t.match((await member(op, h.id)).find((m: any) => m.name === '唐海燕'), { employment: 'PUBLIC_WELFARE_POST' })
})

t.test('submitting and reading jobs: departments, roles, areas and bad requests', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const health: TokenClaims = { sub: uniqueSub('wj'), role: 'EXCHANGE', dept: 'health', region: COUNTY }
  const body = ndjson([{ national_id: nationalId(), year: 2019, medical_insurance: true, serious_illness_insurance: true }])
  t.equal((await upload({ ...health, dept: 'education' }, 'health.insurance', body, NDJSON)).status, 403, 'another department')
  t.equal((await upload({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE }, 'health.insurance', body, NDJSON)).status, 403, 'an operator')
  const unknownKind = await upload(health, 'health.x', body, NDJSON)
  t.equal(unknownKind.status, 400)
  t.match(unknownKind.json.errors, [{ path: /kind/ }])
  t.equal((await upload(health, 'health.insurance', '', NDJSON)).status, 400, 'an empty file')
  t.match((await upload(health, 'health.insurance', body, 'text/csv; charset=latin1')).json, { status: 400, errors: [{ path: 'headers.content-type' }] })
  t.equal((await upload(health, 'health.insurance', body, 'application/json')).status, 415, 'a type the import does not read, JSON too')
  const ok = await upload(health, 'health.insurance', body, NDJSON)
  t.equal(ok.status, 202)
  const admin = await upload({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' }, 'health.insurance', body, NDJSON)
  t.equal(admin.status, 202, 'ADMIN may submit any kind')
  await finished(app.as(health), ok.json.id)
  // Reading: the department's jobs in its area only; everything else does not exist.
  t.equal((await app.as({ ...health, sub: uniqueSub('wj2') }).get(`/api/v1/exchange/jobs/${ok.json.id}`)).statusCode, 200, 'a colleague of the department')
  t.equal((await app.as({ ...health, dept: 'civil_affairs' }).get(`/api/v1/exchange/jobs/${ok.json.id}`)).statusCode, 404)
  t.equal((await app.as({ ...health, region: '411282' }).get(`/api/v1/exchange/jobs/${ok.json.id}`)).statusCode, 404)
  t.equal((await app.as({ ...health, region: '411282' }).get(`/api/v1/exchange/jobs/${ok.json.id}/errors`)).statusCode, 404)
  t.equal((await app.as({ sub: 'a', role: 'AUDITOR', region: COUNTY }).get(`/api/v1/exchange/jobs/${ok.json.id}`)).statusCode, 403)
  t.equal((await app.as(health).get('/api/v1/exchange/jobs/not-a-uuid')).statusCode, 404)
  t.equal((await app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' }).get(`/api/v1/exchange/jobs/${ok.json.id}/report`)).statusCode, 200)
})

t.test('a job stopped mid-way resumes after restart from its last committed batch: every row applied exactly once', async (t) => {
  const database = await testDatabase()
  const config = testConfig({ IMPORT_BATCH_ROWS: '7' })
  let now = new Date('2026-01-10T08:00:00Z')
  const first = await buildApp({ teardown: () => {} }, { database, config, clock: () => now })
  const op = first.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: SIBLING })
  const ids = Array.from({ length: 12 }, (_, i) => nationalId(`19${70 + i}-01-0${1 + (i % 9)}`, 'MALE'))
  for (const id of ids) await household(op, SIBLING, [memberInput({ name: '测试', nationalId: id })])
  const hr: TokenClaims = { sub: uniqueSub('rs'), role: 'EXCHANGE', dept: 'hr', region: COUNTY }
  const rows = Array.from({ length: 2000 }, (_, i) => i % 10 === 9
    ? { national_id: ids[0], employment: 'NOWHERE', months: 1, monthly_income: 1 }
    : i % 10 === 8
      ? { national_id: nationalId('1990-02-02', 'FEMALE'), employment: 'LOCAL', months: 1, monthly_income: 1 }
      : { national_id: ids[i % ids.length], employment: 'LOCAL', months: (i % 12) + 1, monthly_income: i })
  const submitted = await uploader(first)(hr, 'hr.employment', ndjson(rows), NDJSON)
  const jobId = submitted.json.id as string
  // Stop the app once some batches have committed, not all.
  for (let i = 0; i < 2000; i++) {
    const [p] = await queryRows<{ resume_line: number }>(database.db, sql`SELECT resume_line FROM exchange_jobs WHERE id = ${jobId}`)
    if (p!.resume_line >= 70) break
    await sleep(5)
  }
  await first.app.close()
  const [midway] = await queryRows<{ resume_line: number, status: string }>(database.db, sql`SELECT resume_line, status FROM exchange_jobs WHERE id = ${jobId}`)
  t.equal(midway!.status, 'running')
  t.ok(midway!.resume_line > 0 && midway!.resume_line < 2000, `stopped mid-way (after line ${midway!.resume_line})`)

  now = new Date(now.getTime() + 5 * 60_000) // later than any lease
  const second = await buildApp(t, { database, config, clock: () => now })
  const job = await finished(second.as(hr), jobId)
  t.match(job, { status: 'succeeded', counts: { received: 2000, applied: 1600, unmatched: 200, rejected: 200 } })
  const [counts] = await queryRows<{ audits: number, matches: number, errors: number, lines: number }>(database.db, sql`SELECT
    (SELECT count(*)::int FROM audit_events WHERE source = ${'exchange-job:' + jobId}) AS audits,
    (SELECT count(*)::int FROM exchange_job_matches WHERE job_id = ${jobId}) AS matches,
    (SELECT count(*)::int FROM exchange_job_errors WHERE job_id = ${jobId}) AS errors,
    (SELECT count(DISTINCT line)::int FROM exchange_job_matches WHERE job_id = ${jobId}) AS lines`)
  t.same(counts, { audits: 1600, matches: 1600, errors: 200, lines: 1600 }, 'each valid matched row applied and audited once, each bad row reported once')
  const last = rows.findLast(r => r.national_id === ids[5] && r.employment === 'LOCAL')!
  const m = await queryRows<{ employment_months: number }>(database.db, sql`SELECT employment_months FROM members WHERE national_id_hash = ${second.app.deps.sealer.lookupHash(ids[5]!)}`)
  t.equal(m[0]!.employment_months, last.months, 'rows applied in file order')
})

t.test('every kind, in NDJSON and in CSV: a valid row applies, an invalid one is rejected with its field, an unregistered person is unmatched', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const cases: Array<{ kind: string, dept: string, valid: (id: string) => Record<string, unknown>, invalid: (id: string) => [Record<string, unknown>, string], check: Record<string, unknown> }> = [
    { kind: 'civil_affairs.dibao', dept: 'civil_affairs', valid: id => ({ national_id: id, name: '甲', status: 'active', start_date: '2018-01-01', monthly_amount: 200 }), invalid: id => [{ national_id: id, name: '甲', status: 'paused', start_date: '2018-01-01', monthly_amount: 200 }, 'status'], check: { dibao: true } },
    { kind: 'civil_affairs.deaths', dept: 'civil_affairs', valid: id => ({ national_id: id, name: '甲', date_of_death: '2019-03-04' }), invalid: id => [{ national_id: id, name: '甲', date_of_death: 'yesterday' }, 'date_of_death'], check: { deceasedAt: '2019-03-04' } },
    { kind: 'health.insurance', dept: 'health', valid: id => ({ national_id: id, year: 2019, medical_insurance: false, serious_illness_insurance: true }), invalid: id => [{ national_id: id, year: 1999, medical_insurance: true, serious_illness_insurance: true }, 'year'], check: { medicalInsurance: false, seriousIllnessInsurance: true } },
    { kind: 'education.enrollment', dept: 'education', valid: id => ({ national_id: id, name: '甲', stage: 'SENIOR_HIGH', status: 'enrolled' }), invalid: id => [{ national_id: id, name: '甲', stage: 'SENIOR_HIGH', status: 'absent' }, 'status'], check: { schooling: 'SENIOR_HIGH' } },
    { kind: 'disability.certificates', dept: 'disability', valid: id => ({ national_id: id, name: '甲', grade: 3 }), invalid: id => [{ national_id: id, name: '甲', grade: 'III' }, 'grade'], check: { disabilityGrade: 3, healthConditions: ['DISABLED'] } },
    { kind: 'hr.employment', dept: 'hr', valid: id => ({ national_id: id, employment: 'SELF_EMPLOYED', months: 6, monthly_income: 1800 }), invalid: id => [{ national_id: id, employment: 'SELF_EMPLOYED', months: 6, monthly_income: 'lots' }, 'monthly_income'], check: { employment: 'SELF_EMPLOYED', employmentMonths: 6, monthlyIncome: 1800 } }
  ]
  for (const c of cases) {
    for (const format of ['ndjson', 'csv'] as const) {
      const id = nationalId('2001-02-03', 'MALE')
      const h = await household(op, VILLAGE, [memberInput({ name: '甲', nationalId: id, laborCapacity: 'ORDINARY' })])
      const [bad, badField] = c.invalid(id)
      const rows = [c.valid(id), bad, c.valid(nationalId('1999-09-09', 'FEMALE'))]
      const header = Object.keys(rows[0]!)
      const body = format === 'ndjson' ? ndjson(rows) : csv(header, rows.map(r => header.map(k => String(r[k]))))
      const who: TokenClaims = { sub: uniqueSub(c.dept), role: 'EXCHANGE', dept: c.dept, region: COUNTY }
      const submitted = await upload(who, c.kind, body, format === 'ndjson' ? NDJSON : 'text/csv')
      t.equal(submitted.status, 202, `${c.kind} ${format}`)
      const job = await finished(app.as(who), submitted.json.id)
      t.match(job, { status: 'succeeded', counts: { received: 3, applied: 1, unmatched: 1, rejected: 1 } }, `${c.kind} ${format}: counts`)
      t.match((await member(op, h.id))[0], c.check, `${c.kind} ${format}: applied`)
      const errors = (await app.as(who).get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim().split('\n').map(l => JSON.parse(l))
      t.same(errors.map(e => [e.line, e.path]), [[format === 'ndjson' ? 2 : 3, badField]], `${c.kind} ${format}: the bad row named by line and field`)
    }
  }
})

t.test('a batch writes a member only at the version it read (a concurrent change makes the batch read again)', async (t) => {
  const app = await buildApp(t)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: VILLAGE })
  const id = nationalId('1977-07-07', 'MALE')
  const h = await household(op, VILLAGE, [memberInput({ name: '乙', nationalId: id })])
  const { membersByHash, updateMembers } = await import('../src/modules/imports/imports-repository.js')
  const [m] = await membersByHash(app.database.db, COUNTY, [app.app.deps.sealer.lookupHash(id)])
  t.equal(m!.id, h.members[0]!.id)
  await op.gql('mutation ($id: ID!) { updateMember(id: $id, input: { wantsWork: true }) { id } }', { id: m!.id })
  t.equal(await updateMembers(app.database.db, ['employment'], [{ id: m!.id, version: m!.version, employment: 'LOCAL' }], new Date()), 0, 'stale: nothing written')
  t.equal((await member(op, h.id))[0].employment, 'UNEMPLOYED')
  t.equal(await updateMembers(app.database.db, ['employment'], [{ id: m!.id, version: m!.version + 1, employment: 'LOCAL' }], new Date()), 1)
  t.equal((await member(op, h.id))[0].employment, 'LOCAL')
})

t.test('a batch moves the resume point only from where the batch before it left it (never past one that did not commit)', async (t) => {
  const app = await buildApp(t)
  const { insertJob, commitProgress } = await import('../src/modules/imports/imports-repository.js')
  const now = new Date()
  // Held by another worker under a lease that does not expire during the test (the app's own worker leaves it alone).
  const lease = new Date(now.getTime() + 3_600_000)
  const job = await insertJob(app.database.db, { kind: 'hr.employment', format: 'ndjson', charset: 'utf-8', status: 'running', submittedBy: uniqueSub('hr'), submitterRole: 'EXCHANGE', dept: 'hr', regionCode: COUNTY, leaseOwner: 'worker', leaseUntil: lease, createdAt: now })
  const counts = { received: 7, applied: 1, unmatched: 2, rejected: 4 }
  t.equal(await commitProgress(app.database.db, job, 0, 7, counts, lease), true, 'the first batch, from line 0')
  t.equal(await commitProgress(app.database.db, job, 14, 21, counts, lease), false, 'the third batch while the second has not committed')
  t.equal(await commitProgress(app.database.db, job, 0, 14, counts, lease), false, 'a second batch from a stale resume point')
  const [row] = await queryRows<{ resume_line: number, received: number }>(app.database.db, sql`SELECT resume_line, received FROM exchange_jobs WHERE id = ${job.id}`)
  t.same(row, { resume_line: 7, received: 7 }, 'nothing recorded by the refused ones')
  t.equal(await commitProgress(app.database.db, job, 7, 14, counts, lease), true, 'the second batch, from line 7')
})

t.test('members edited while a job runs: a batch that lost a race is read again while the next waits, and every row applies once', async (t) => {
  const app = await buildApp(t, { config: testConfig({ IMPORT_BATCH_ROWS: '7' }) })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: SIBLING })
  const ids = Array.from({ length: 6 }, (_, i) => nationalId(`198${i}-03-0${1 + i}`, 'FEMALE'))
  const memberIds: string[] = []
  for (const id of ids) memberIds.push((await household(op, SIBLING, [memberInput({ name: '丙', nationalId: id })])).members[0]!.id)
  const hr: TokenClaims = { sub: uniqueSub('rs'), role: 'EXCHANGE', dept: 'hr', region: COUNTY }
  const rows = Array.from({ length: 420 }, (_, i) => ({ national_id: ids[i % ids.length], employment: 'LOCAL', months: (i % 12) + 1, monthly_income: i }))
  const submitted = await uploader(app)(hr, 'hr.employment', ndjson(rows), NDJSON)
  const jobId = submitted.json.id as string
  let edits = 0
  for (let i = 0; ; i++) {
    const state = (await app.as(hr).get(`/api/v1/exchange/jobs/${jobId}`)).json()
    if (state.status !== 'queued' && state.status !== 'running') break
    const res = await op.gql('mutation ($id: ID!, $w: Boolean!) { updateMember(id: $id, input: { wantsWork: $w }) { id } }', { id: memberIds[i % memberIds.length], w: i % 2 === 0 })
    t.equal(res.errors, undefined)
    edits++
    await sleep(20)
  }
  t.ok(edits > 0, `${edits} edits while the job ran`)
  const job = await finished(app.as(hr), jobId)
  t.match(job, { status: 'succeeded', counts: { received: 420, applied: 420, unmatched: 0, rejected: 0 } })
  const [c] = await queryRows<{ audits: number, lines: number }>(app.database.db, sql`SELECT
    (SELECT count(*)::int FROM audit_events WHERE source = ${'exchange-job:' + jobId}) AS audits,
    (SELECT count(DISTINCT line)::int FROM exchange_job_matches WHERE job_id = ${jobId}) AS lines`)
  t.same(c, { audits: 420, lines: 420 }, 'each row applied and audited once')
})

t.test('batches that lost a race are tried again without waiting on the batch behind them, on one connection (PGlite, or a pool of one)', async (t) => {
  const database = await freshDatabase({ poolMax: 1 })
  const app = await buildApp(t, { database, config: testConfig({ IMPORT_BATCH_ROWS: '7' }) })
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: SIBLING })
  const MEMBERS = 16
  const ids = Array.from({ length: MEMBERS }, (_, i) => nationalId(`19${50 + i}-05-1${i % 10}`, 'MALE'))
  const memberIds: string[] = []
  for (const id of ids) memberIds.push((await household(op, SIBLING, [memberInput({ name: '丁', nationalId: id })])).members[0]!.id)
  // Each member's first write finds it changed, as if someone had edited it between the
  // batch's read and its write, so every batch is tried again while the one behind it is
  // in flight. A sequence per member counts its tries (nextval is not rolled back with the
  // transaction that lost).
  for (const id of memberIds) await database.db.execute(sql.raw(`CREATE SEQUENCE "tries_${id}"`))
  await database.db.execute(sql`CREATE FUNCTION lose_race_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval(format('%I', 'tries_' || NEW.id)::regclass) = 1 THEN RETURN NULL; END IF;
      RETURN NEW;
    END $$`)
  await database.db.execute(sql`CREATE TRIGGER lose_race_once BEFORE UPDATE ON members FOR EACH ROW EXECUTE FUNCTION lose_race_once()`)
  const hr: TokenClaims = { sub: uniqueSub('rs'), role: 'EXCHANGE', dept: 'hr', region: COUNTY }
  // One batch of seven rows per member.
  const rows = Array.from({ length: MEMBERS * 7 }, (_, i) => ({ national_id: ids[Math.floor(i / 7)], employment: 'LOCAL', months: (i % 12) + 1, monthly_income: i }))
  const submitted = await uploader(app)(hr, 'hr.employment', ndjson(rows), NDJSON)
  t.equal(submitted.status, 202)
  const job = await finished(app.as(hr), submitted.json.id)
  t.match(job, { status: 'succeeded', counts: { received: rows.length, applied: rows.length, unmatched: 0, rejected: 0 } })
  const tries = await Promise.all(memberIds.map(async id => (await queryRows<{ n: number }>(database.db, sql.raw(`SELECT last_value::int AS n FROM "tries_${id}"`)))[0]!.n))
  t.same(tries, memberIds.map(() => 2), 'every batch lost once and was tried again')
  const [c] = await queryRows<{ audits: number, lines: number, incomes: string[] }>(database.db, sql`SELECT
    (SELECT count(*)::int FROM audit_events WHERE source = ${'exchange-job:' + String(submitted.json.id)}) AS audits,
    (SELECT count(DISTINCT line)::int FROM exchange_job_matches WHERE job_id = ${submitted.json.id}) AS lines,
    (SELECT array_agg(monthly_income::text ORDER BY monthly_income) FROM members WHERE id = ANY(${`{${memberIds.join(',')}}`}::uuid[])) AS incomes`)
  t.same(c, { audits: rows.length, lines: rows.length, incomes: memberIds.map((_, i) => `${i * 7 + 6}.00`) }, 'every row applied and audited once: each member has its last row')
})
