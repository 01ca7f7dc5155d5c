import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import app, { serverOptions } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { openDatabase } from './db/index.js'
import { migrateAndSeed } from './infra/migrate.js'
import { mintToken } from './infra/tokens.js'
import { stopTelemetry } from './telemetry.js'

function readConfig (): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      process.exit(1)
    }
    throw err
  }
}

const config = readConfig()
const server = Fastify({ ...serverOptions(config), pluginTimeout: 60_000 })
const database = await openDatabase(config.database, server.log)
if (await migrateAndSeed(database, config, config)) server.log.info('loaded 200 demo households into 卢氏县 (DEMO_DATA=false turns this off)')
// The app closes the database it is given only if it opened it; here the server owns it.
server.addHook('onClose', async () => { await database.close() })
await server.register(fp(app), { config, database })

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err !== undefined) server.log.error({ err }, 'closing after an error')
  else server.log.info({ signal }, 'closing')
  await server.close()
  await stopTelemetry()
})

await server.listen({ host: config.host, port: config.port })

if (config.auth.generatedSecret) {
  const url = `http://${config.host}:${config.port}`
  const where = `Beneficiary registry on ${url} (embedded database in ${config.database.kind === 'pglite' ? config.database.dataDir : ''})`
  // A token is a credential: printed for the developer's first query, never in production.
  if (config.env === 'production') {
    process.stdout.write(`${where}\nTokens are signed with the generated secret in ${config.dataDir}/jwt-secret: mint one with node dist/src/cli/token.js --role ADMIN --region 4112 (same DATA_DIR).\n`)
  } else {
    const token = await mintToken(config.auth, { sub: 'dev-admin', role: 'ADMIN', region: '4112' })
    process.stdout.write([
      '',
      where,
      'Development token (ADMIN at 三门峡市 4112, valid 8 hours):',
      '',
      token,
      '',
      `Try: curl -s ${url}/graphql -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
      '       -d \'{"query":"{ region(code: \\"411224\\") { name level children { code name } } }"}\'',
      'Other roles and regions: TOKEN=$(npm run -s token -- --role OPERATOR --region 411224101201)',
      ''
    ].join('\n') + '\n')
  }
}
