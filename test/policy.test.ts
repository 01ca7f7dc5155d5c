import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { buildSchema } from 'graphql'
import t from 'tap'
import app from '../src/app.js'
import { paths } from '../src/paths.js'
import { can, OPERATIONS, POLICY, type Action } from '../src/shared/policy.js'
import { DEPTS, ROLES, type Dept, type Principal, type Role } from '../src/shared/principal.js'
import { levelOf } from '../src/shared/region-code.js'
import { testConfig, testDatabase } from './helper.js'

// Contract §3, transcribed independently as the oracle: 'masked' and 'yes' allow.
const TABLE: Record<Action, Partial<Record<Role, true>>> = {
  'self.read': { VIEWER: true, OPERATOR: true, REVIEWER: true, ADMIN: true, AUDITOR: true, EXCHANGE: true },
  'reference.read': { VIEWER: true, OPERATOR: true, REVIEWER: true, ADMIN: true, AUDITOR: true, EXCHANGE: true },
  'record.read': { VIEWER: true, OPERATOR: true, REVIEWER: true, ADMIN: true, AUDITOR: true },
  'record.write': { OPERATOR: true, ADMIN: true },
  // Not in the contract's table: the people sent, treated like the records (issue 20).
  'people.read': { VIEWER: true, OPERATOR: true, REVIEWER: true, ADMIN: true, AUDITOR: true },
  'people.write': { OPERATOR: true, ADMIN: true },
  'exit.propose': { OPERATOR: true, REVIEWER: true, ADMIN: true },
  'exit.verify': { REVIEWER: true, ADMIN: true },
  'exit.approve': { REVIEWER: true, ADMIN: true },
  'exit.county': { REVIEWER: true, ADMIN: true },
  // §10: VIEWER and AUDITOR read; OPERATOR and ADMIN create, link, allocate and pay; REVIEWER and ADMIN at county level approve.
  'project.read': { VIEWER: true, OPERATOR: true, REVIEWER: true, ADMIN: true, AUDITOR: true },
  'project.write': { OPERATOR: true, ADMIN: true },
  'project.approve': { REVIEWER: true, ADMIN: true },
  'statistics.read': { VIEWER: true, OPERATOR: true, REVIEWER: true, ADMIN: true, AUDITOR: true },
  // Contract §10: the public disclosure, any reader role in area.
  'disclosure.read': { VIEWER: true, OPERATOR: true, REVIEWER: true, ADMIN: true, AUDITOR: true },
  'audit.read': { ADMIN: true, AUDITOR: true },
  'audit.export': { ADMIN: true, AUDITOR: true },
  'reference.edit': { ADMIN: true },
  'exchange.submit': { ADMIN: true, EXCHANGE: true },
  'eligibility.check': { ADMIN: true, EXCHANGE: true },
  // Not in the contract: the service's own Prometheus metrics (README "Metrics and tracing").
  'metrics.read': { ADMIN: true }
}
/** Longest region code the user may sit at for the action (township 9, county 6, city 4). */
const MAX_CODE_LENGTH: Partial<Record<Action, number>> = { 'exit.verify': 9, 'exit.approve': 6, 'project.approve': 6, 'exit.county': 4, 'reference.edit': 4, 'audit.export': 4 }
const EXCHANGE_DEPTS: Partial<Record<Action, readonly Dept[]>> = { 'eligibility.check': ['health', 'civil_affairs'], 'exchange.submit': DEPTS }

const LENGTHS = [2, 4, 6, 9, 12]
const digits = (n: number): fc.Arbitrary<string> => fc.array(fc.constantFrom('1', '2', '3'), { minLength: n, maxLength: n }).map(a => a.join(''))
/** Codes drawn from a small tree so that same, child, parent, sibling and unrelated regions all occur. */
const code = fc.constantFrom(...LENGTHS).chain(digits)

t.test('can() allows exactly what contract §3 allows, for every role, action, level and region relation', async (t) => {
  fc.assert(fc.property(
    fc.constantFrom(...ROLES), code, fc.option(fc.constantFrom(...DEPTS), { nil: null }),
    fc.constantFrom(...(Object.keys(POLICY) as Action[])), fc.option(code, { nil: undefined }),
    (role, userRegion, dept, action, target) => {
      const p: Principal = { sub: 's', role, regionCode: userRegion, level: levelOf(userRegion), dept: role === 'EXCHANGE' ? dept : null }
      const roleOk = TABLE[action][role] === true
      const levelOk = userRegion.length <= (MAX_CODE_LENGTH[action] ?? 12)
      const deptOk = role !== 'EXCHANGE' || EXCHANGE_DEPTS[action] === undefined || (p.dept !== null && EXCHANGE_DEPTS[action].includes(p.dept))
      const areaOk = target === undefined || target.startsWith(userRegion)
      return can(p, action, target) === (roleOk && levelOk && deptOk && areaOk)
    }
  ), { numRuns: 5000 })
})

t.test('EXCHANGE users act only for their own department\'s kinds', async (t) => {
  const p: Principal = { sub: 's', role: 'EXCHANGE', regionCode: '4112', level: 'CITY', dept: 'education' }
  t.ok(can(p, 'exchange.submit', undefined, ['education']))
  t.notOk(can(p, 'exchange.submit', undefined, ['civil_affairs', 'public_security']))
  t.notOk(can({ ...p, dept: null }, 'exchange.submit'))
  t.notOk(can(p, 'eligibility.check'))
  t.ok(can({ ...p, dept: 'health' }, 'eligibility.check'))
})

t.test('every Query and Mutation field of the schema has a policy entry', async (t) => {
  const schema = buildSchema(readFileSync(paths.schema, 'utf8'))
  for (const root of [schema.getQueryType(), schema.getMutationType()]) {
    for (const field of Object.keys(root?.getFields() ?? {})) {
      const action = OPERATIONS[`${root!.name}.${field}`]
      t.ok(action !== undefined && action !== 'public', `${root!.name}.${field} → ${String(action)}`)
    }
  }
})

t.test('every registered route has a policy entry, and the app refuses to start with one that has none', async (t) => {
  const database = await testDatabase()
  const fastify = Fastify({ logger: false })
  const routes: string[] = []
  fastify.addHook('onRoute', (r) => { for (const m of [r.method].flat()) routes.push(`${m === 'HEAD' ? 'GET' : m} ${r.url}`) })
  await fastify.register(fp(app), { config: testConfig({ NODE_ENV: 'development' }), database })
  await fastify.ready()
  t.ok(routes.length > 5)
  for (const r of routes) t.ok(r in OPERATIONS, r)
  await fastify.close()

  const bad = Fastify({ logger: false })
  await bad.register(fp(app), { config: testConfig(), database })
  await bad.after()
  t.throws(() => bad.get('/api/v1/unlisted', async () => 'secret'), /GET \/api\/v1\/unlisted has no entry/)
  await bad.close()
})
