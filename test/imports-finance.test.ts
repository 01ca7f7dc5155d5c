import { sql } from 'drizzle-orm'
import iconv from 'iconv-lite'
import t from 'tap'
import { queryRows } from '../src/db/index.js'
import type { TokenClaims } from '../src/infra/tokens.js'
import { seedProject, uniqueCode } from './disclosures-support.js'
import { memberInput, nationalId } from './fixtures.js'
import { buildApp, uniqueSub, type TestApp } from './helper.js'
import { auditsOf, COUNTY, csv, finished, household, OTHER_COUNTY_VILLAGE, SIBLING, uploader, VILLAGE, workbookOf, XLSX } from './imports-support.js'

const TOWNSHIP = '411224101'
const HEADER = ['project_code', 'national_id', 'amount', 'date', 'account', 'voucher_no']
const ACCOUNT = '6228480012345678901'

async function paidOf (app: TestApp, projectId: string): Promise<{ paid: string, payments: number }> {
  const [row] = await queryRows<{ paid: string, payments: number }>(app.database.db, sql`SELECT p.paid::text AS paid, (SELECT count(*)::int FROM fund_payments f WHERE f.project_id = p.id) AS payments FROM projects p WHERE p.id = ${projectId}`)
  return row!
}

t.test('finance.payments: matched by the national ID\'s hash, paid through the payment rule, reconciled; a file sent again pays nothing twice', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY })
  const finance: TokenClaims = { sub: uniqueSub('cz'), role: 'EXCHANGE', dept: 'finance', region: COUNTY }
  const reader = app.as(finance)
  const [idA, idA2, idB, idC, stranger] = [nationalId('1960-01-01'), nationalId('1962-02-02', 'FEMALE'), nationalId('1964-03-03'), nationalId('1966-04-04'), nationalId('1968-05-05')]
  const hA = await household(op, VILLAGE, [memberInput({ name: '陈长河', nationalId: idA }), memberInput({ name: '刘桂香', relation: 'SPOUSE', nationalId: idA2 })])
  const hB = await household(op, SIBLING, [memberInput({ name: '杨石头', nationalId: idB })])
  const hC = await household(op, VILLAGE, [memberInput({ name: '黄大山', nationalId: idC })])
  const p1 = await seedProject(app, { regionCode: TOWNSHIP, name: '产业奖补', allocations: [{ source: 'CENTRAL', amount: 10000, date: '2019-02-01' }], households: [{ id: hA.id, regionCode: VILLAGE }, { id: hB.id, regionCode: SIBLING }] })
  const p2 = await seedProject(app, { regionCode: VILLAGE, name: '未批复项目', status: 'PLANNED', allocations: [{ source: 'CENTRAL', amount: 5000, date: '2019-02-01' }], households: [{ id: hA.id, regionCode: VILLAGE }] })
  const p3 = await seedProject(app, { regionCode: OTHER_COUNTY_VILLAGE, name: '外县项目', allocations: [{ source: 'CENTRAL', amount: 5000, date: '2019-02-01' }] })
  const v = uniqueCode('PZ')
  const body = csv(HEADER, [
    [p1.code, idA2, 3000, '2019-05-01', ACCOUNT, `${v}-1`],
    [p1.code, idB, 2500.5, '2019-05-02', '6228 4800 1234 5678 902', `${v}-2`],
    [p1.code, idC, 100, '2019-05-03', ACCOUNT, `${v}-3`],
    [p1.code, stranger, 100, '2019-05-03', ACCOUNT, `${v}-4`],
    [p1.code, idA, 5000, '2019-05-03', ACCOUNT, `${v}-5`],
    [p2.code, idA, 100, '2019-05-03', ACCOUNT, `${v}-6`],
    ['NO-SUCH-PROJECT', idA, 100, '2019-05-03', ACCOUNT, `${v}-7`],
    [p3.code, idA, 100, '2019-05-03', ACCOUNT, `${v}-8`],
    [p1.code, idA, 100, '2019-05-04', ACCOUNT, `${v}-1`],
    [p1.code, idA.slice(0, 17) + (idA[17] === '0' ? '1' : '0'), -5, '2099-01-01', '12', '']
  ])
  const submitted = await upload(finance, 'finance.payments', body, 'text/csv')
  t.equal(submitted.status, 202)
  const job = await finished(reader, submitted.json.id)
  t.match(job, { kind: 'finance.payments', status: 'succeeded', counts: { received: 10, applied: 2, unmatched: 1, rejected: 7 } })
  t.same(await paidOf(app, p1.id), { paid: '5500.50', payments: 2 }, 'the two valid payments, nothing else')
  t.same(await paidOf(app, p2.id), { paid: '0.00', payments: 0 })
  t.same(await paidOf(app, p3.id), { paid: '0.00', payments: 0 })

  const payments = await queryRows<{ household_id: string, member_id: string, amount: string, reference: string, account_sealed: string }>(app.database.db, sql`SELECT household_id, member_id, amount::text, reference, account_sealed FROM fund_payments WHERE project_id = ${p1.id} ORDER BY reference`)
  t.same(payments.map(p => [p.household_id, p.member_id, p.amount, p.reference]), [[hA.id, hA.members[1]!.id, '3000.00', `${v}-1`], [hB.id, hB.members[0]!.id, '2500.50', `${v}-2`]], 'to the matched member\'s household, the voucher as reference')
  t.notOk(payments.some(p => p.account_sealed.includes('6228')), 'the account sealed at rest')
  t.equal(app.app.deps.sealer.open(payments[1]!.account_sealed), '6228480012345678902', 'spaces in the account ignored')

  const audits = await auditsOf(app.database, job.id)
  t.same(audits.map(a => a.action), ['project.pay', 'project.pay'], 'one audit entry per payment, the job as its source')
  t.notOk(JSON.stringify(audits).includes(ACCOUNT), 'no account in the clear in the audit trail')

  const errors = (await reader.get(`/api/v1/exchange/jobs/${job.id}/errors`)).body.trim().split('\n').map(l => JSON.parse(l))
  t.same(errors, [
    { line: 4, path: 'national_id', message: 'is not a beneficiary of the project' },
    { line: 6, path: 'amount', message: 'would make paid exceed allocated (4499.50 yuan left of 10000.00)' },
    { line: 7, path: 'project_code', message: 'A project pays only once APPROVED or IN_PROGRESS (this one is PLANNED)' },
    { line: 8, path: 'project_code', message: 'Project not found' },
    { line: 9, path: 'project_code', message: 'Project not found' },
    { line: 10, path: 'voucher_no', message: `A payment with reference ${v}-1 is already recorded for the project` },
    { line: 11, path: 'account', message: 'must be a bank account number of 12–30 digits' },
    { line: 11, path: 'amount', message: 'must be from 0.01 to 999999999999.99' },
    { line: 11, path: 'date', message: 'must not be in the future' },
    { line: 11, path: 'national_id', message: 'check digit does not match' }
  ])
  const zh = await app.app.inject({ method: 'GET', url: `/api/v1/exchange/jobs/${job.id}/errors`, headers: { authorization: `Bearer ${reader.token}`, 'accept-language': 'zh-CN' } })
  t.match(zh.body, '拨付后将超过下达资金（下达 10000.00 元，尚余 4499.50 元）')

  const report = (await reader.get(`/api/v1/exchange/jobs/${job.id}/report`)).json()
  t.same(report.findings, { ABOVE_ALLOCATION: 1, DUPLICATE_PAYMENT: 1, PAYEE_NOT_BENEFICIARY: 1, PAYEE_NOT_REGISTERED: 1, PROJECT_NOT_FOUND: 2, PROJECT_NOT_PAYING: 1 })
  t.match(report.reconciliation, /persons not registered.*beneficiaries.*allocation.*not found or not paying.*duplicates/)
  const item = (finding: string) => report.items.find((i: any) => i.finding === finding)
  t.match(item('PAYEE_NOT_REGISTERED'), { regionCode: COUNTY, householdId: null, detail: { line: 5, projectCode: p1.code, amount: 100, nationalId: stranger.slice(0, 6) + '********' + stranger.slice(14) } })
  t.match(item('PAYEE_NOT_BENEFICIARY'), { regionCode: VILLAGE, householdId: hC.id, memberId: hC.members[0]!.id, detail: { line: 4, name: '黄大山' } })
  t.match(item('ABOVE_ALLOCATION'), { householdId: hA.id, detail: { line: 6, amount: 5000 } })
  for (const secret of [stranger, idA, idC, ACCOUNT]) t.notOk(JSON.stringify(report).includes(secret), 'no ID or account in the clear in the report')

  // The village's operators see the items routed to them.
  const villageOp = app.as({ sub: uniqueSub('vop'), role: 'OPERATOR', region: VILLAGE })
  const items = (await villageOp.gql('query ($f: WorkItemFilter) { workItems(filter: $f) { edges { node { finding } } } }', { f: { jobId: job.id } })).data.workItems.edges.map((e: any) => e.node.finding).sort()
  t.same(items, ['ABOVE_ALLOCATION', 'DUPLICATE_PAYMENT', 'PAYEE_NOT_BENEFICIARY', 'PROJECT_NOT_FOUND', 'PROJECT_NOT_FOUND', 'PROJECT_NOT_PAYING'], 'the items of the village\'s households, not the county\'s')

  // The same file sent again (a new job): every payment a duplicate, nothing paid twice.
  const again = await finished(reader, (await upload(finance, 'finance.payments', body, 'text/csv')).json.id)
  t.match(again, { status: 'succeeded', counts: { received: 10, applied: 0, unmatched: 1, rejected: 9 } })
  t.same(await paidOf(app, p1.id), { paid: '5500.50', payments: 2 })
  t.equal((await reader.get(`/api/v1/exchange/jobs/${again.id}/report`)).json().findings.DUPLICATE_PAYMENT, 3)
})

t.test('finance.payments without voucher numbers (GB18030 CSV, xlsx): the file\'s hash and line are the reference, so the same file again pays nothing', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY })
  const finance: TokenClaims = { sub: uniqueSub('cz'), role: 'EXCHANGE', dept: 'finance', region: TOWNSHIP }
  const reader = app.as(finance)
  const id = nationalId('1955-05-05')
  const h = await household(op, VILLAGE, [memberInput({ name: '马福来', nationalId: id })])
  const p = await seedProject(app, { regionCode: VILLAGE, name: '光伏收益分红', allocations: [{ source: 'COUNTY', amount: 1000, date: '2019-02-01' }], households: [{ id: h.id, regionCode: VILLAGE }] })
  const gbk = iconv.encode(csv(['project_code', 'national_id', 'amount', 'date', 'account'], [[p.code, id, 200, '2019-06-01', ACCOUNT], [p.code, id, 200, '2019-06-01', ACCOUNT]]), 'gb18030')
  for (const expected of [{ applied: 2, rejected: 0 }, { applied: 0, rejected: 2 }]) {
    const job = await finished(reader, (await upload(finance, 'finance.payments', gbk, 'text/csv; charset=gbk')).json.id)
    t.match(job, { status: 'succeeded', charset: 'gb18030', counts: { received: 2, ...expected } }, 'two lines, two payments; the same file again: none')
  }
  t.same(await paidOf(app, p.id), { paid: '400.00', payments: 2 })

  const xlsx = await workbookOf([['project_code', 'national_id', 'amount', 'date', 'account'], [p.code, id, 99.99, '2019-07-01', ACCOUNT]])
  const job = await finished(reader, (await upload(finance, 'finance.payments', xlsx, XLSX)).json.id)
  t.match(job, { status: 'succeeded', format: 'xlsx', counts: { received: 1, applied: 1 } })
  t.same(await paidOf(app, p.id), { paid: '499.99', payments: 3 })
})

t.test('finance.payments: only the finance department (or ADMIN), and only in its area', async (t) => {
  const app = await buildApp(t)
  const upload = uploader(app)
  const op = app.as({ sub: uniqueSub('op'), role: 'OPERATOR', region: COUNTY })
  const id = nationalId('1957-07-07')
  const h = await household(op, VILLAGE, [memberInput({ name: '牛二柱', nationalId: id })])
  const p = await seedProject(app, { regionCode: VILLAGE, name: '养殖奖补', allocations: [{ source: 'CITY', amount: 1000, date: '2019-02-01' }], households: [{ id: h.id, regionCode: VILLAGE }] })
  const body = csv(HEADER, [[p.code, id, 10, '2019-06-01', ACCOUNT, uniqueCode('V')]])
  t.equal((await upload({ sub: uniqueSub('h'), role: 'EXCHANGE', dept: 'health', region: COUNTY }, 'finance.payments', body, 'text/csv')).status, 403, 'another department: 403')
  t.equal((await upload({ sub: uniqueSub('c'), role: 'EXCHANGE', dept: 'finance', region: COUNTY }, 'health.insurance', body, 'text/csv')).status, 403, 'finance may not submit another department\'s kind')
  t.equal((await upload({ sub: uniqueSub('o'), role: 'OPERATOR', region: COUNTY }, 'finance.payments', body, 'text/csv')).status, 403)

  // Another county's finance office: the person and the project are outside its area.
  const elsewhere: TokenClaims = { sub: uniqueSub('cz2'), role: 'EXCHANGE', dept: 'finance', region: '411282' }
  const job = await finished(app.as(elsewhere), (await upload(elsewhere, 'finance.payments', body, 'text/csv')).json.id)
  t.match(job, { status: 'succeeded', counts: { received: 1, applied: 0, unmatched: 1 } })
  t.same(await paidOf(app, p.id), { paid: '0.00', payments: 0 }, 'nothing paid from outside the area')
  t.equal((await app.as({ sub: uniqueSub('cz3'), role: 'EXCHANGE', dept: 'finance', region: COUNTY }).get(`/api/v1/exchange/jobs/${job.id}`)).statusCode, 404, 'another area\'s job does not exist for this office')

  // ADMIN of the county may submit it.
  const admin: TokenClaims = { sub: uniqueSub('a'), role: 'ADMIN', region: COUNTY }
  const done = await finished(app.as(admin), (await upload(admin, 'finance.payments', body, 'text/csv')).json.id)
  t.match(done, { status: 'succeeded', counts: { applied: 1 } })
  t.same(await paidOf(app, p.id), { paid: '10.00', payments: 1 })
})
