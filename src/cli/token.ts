/**
 * Mints a development token signed with JWT_SECRET (or the embedded default secret
 * in the data directory):
 *   npm run token -- --role OPERATOR --region 411224100201 [--sub alice] [--dept health] [--expires 8h]
 */
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config.js'
import { mintToken } from '../infra/tokens.js'
import { ROLES, DEPTS } from '../shared/principal.js'
import { isRegionCode } from '../shared/region-code.js'

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'OPERATOR' },
    region: { type: 'string', default: '4112' },
    sub: { type: 'string' },
    dept: { type: 'string' },
    expires: { type: 'string', default: '8h' }
  }
})
const fail = (msg: string): never => { console.error(msg); process.exit(2) }
if (!(ROLES as readonly string[]).includes(values.role)) fail(`--role must be one of ${ROLES.join(', ')}`)
if (!isRegionCode(values.region)) fail('--region must be a 2, 4, 6, 9 or 12-digit administrative code')
if (values.dept !== undefined && !(DEPTS as readonly string[]).includes(values.dept)) fail(`--dept must be one of ${DEPTS.join(', ')}`)
if (values.role === 'EXCHANGE' && values.dept === undefined) fail('EXCHANGE tokens need --dept')

try {
  const config = loadConfig()
  const token = await mintToken(config.auth, {
    sub: values.sub ?? `dev-${values.role.toLowerCase()}-${values.region}`,
    role: values.role,
    region: values.region,
    ...(values.dept !== undefined ? { dept: values.dept } : {})
  }, values.expires)
  process.stdout.write(token + '\n')
} catch (err) {
  fail(err instanceof ConfigError ? err.message : (err as Error).message)
}
