import fp from 'fastify-plugin'
import { ruruHTML, type RuruServerConfig } from 'ruru/server'
import { getStaticFile } from 'ruru/static'
import { notFound } from '../shared/errors.js'

/** GraphiQL's page, and the URL path of its scripts, styles, workers and font. */
export const GRAPHIQL_PATH = '/graphiql'
const STATIC_PATH = '/graphiql/static/'

/**
 * GraphiQL (development only), with every file it loads served from the project's own
 * dependencies: ruru, a prebuilt GraphiQL 5 (React, Monaco and its workers bundled, kept
 * brotli-compressed in memory), so that the page works on an intranet without internet.
 * Queries from it need a token like any other (its headers pane).
 */
export default fp(async (app) => {
  const page = ruruHTML({
    endpoint: '/graphql',
    staticPath: STATIC_PATH,
    // The headers pane starts with the one header every query needs (ruru's types mark every client option required).
    clientConfig: { initialHeaders: '{\n  "Authorization": "Bearer …"\n}' } as RuruServerConfig['clientConfig']
  })
  app.get(GRAPHIQL_PATH, async (_req, reply) => await reply.type('text/html; charset=utf-8').send(page))
  app.get(`${STATIC_PATH}*`, async (req, reply) => {
    const file = await getStaticFile({ staticPath: STATIC_PATH, urlPath: req.url, acceptEncoding: req.headers['accept-encoding'], disallowDevAssets: true })
    if (file === null) throw notFound('GraphiQL file')
    // Pinned to the installed version: a browser may keep them for a day.
    reply.headers({ ...file.headers, 'cache-control': 'public, max-age=86400' })
    if (req.headers['if-none-match'] === file.headers.etag) return await reply.code(304).send()
    return await reply.send(file.content)
  })
}, { name: 'graphiql' })
