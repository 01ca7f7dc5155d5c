/**
 * The container image (issue 21), without a container engine: the Dockerfile's final
 * stage read and laid out as it would be — the build's output (`tsc -p tsconfig.build.json`,
 * what `npm run build` runs), the files its COPY lines take, its data directory, its ENV
 * and its CMD — then run as a non-root user (nobody) from that copy, which that user cannot
 * write. The service starts on the embedded database and with DATABASE_URL, prints no
 * token in production, the compiled `token` and `migrate` commands work without tsx, and
 * the CMD's `--import` traces the compiled server (OTLP to a collector in the test).
 */
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import t, { type Test } from 'tap'
import { projectRoot } from '../../src/paths.js'
import { MACHINE_PG_URL, TEST_AUDIT_KEY, TEST_DATA_KEY, TEST_SECRET, withDatabase } from '../helper.js'
import { attr, cleanEnv, freePort, JWT, otlpCollector, run, runToEnd, waitForSpans, waitReady, type Running } from '../processes.js'

const NOBODY = { uid: 65534, gid: 65534 }
const dockerfile = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ')
/** The final stage: after the last FROM. */
const stage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
const lines = stage.split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))

// Building and two starts take longer than the suite's 120 s per file.
t.setTimeout(300_000)
// Running as another user needs root (as CI and the development machines run).
const skip = process.getuid?.() === 0 ? false : 'needs root, to run the service as nobody'

const root = mkdtempSync(join(tmpdir(), 'br-image-'))
const app = join(root, 'app')
chmodSync(root, 0o755) // mkdtemp's 0700 would keep nobody out of the copy altogether
t.teardown(() => { rmSync(root, { recursive: true, force: true }) })

// The image's environment (ENV lines), with this test's address and port.
const imageEnv: Record<string, string> = {}
for (const l of lines.filter(l => l.startsWith('ENV '))) {
  for (const m of l.slice(4).matchAll(/(\w+)=(\S+)/g)) imageEnv[m[1]!] = m[2]!
}
const cmd = JSON.parse(lines.find(l => l.startsWith('CMD '))!.slice(4)) as string[]

t.test('the Dockerfile runs as a non-root user, in production, with a data directory that user owns', async (t) => {
  t.ok(lines.includes('USER node'), 'USER node')
  t.equal(imageEnv.NODE_ENV, 'production')
  t.equal(lines.find(l => l.startsWith('WORKDIR ')), 'WORKDIR /app')
  t.ok(lines.some(l => /^RUN mkdir data && chown node:node data$/.test(l)), './data (DATA_DIR\'s default) belongs to the runtime user')
  t.equal(cmd[0], 'node')
  t.ok(cmd.includes('dist/src/server.js') && cmd.includes('./dist/src/instrument.js'), 'the compiled server, tracing loaded first')
})

t.test('the layout, built and copied as the image has it', { skip }, async (t) => {
  mkdirSync(app)
  // The build stage: `npm run build` (tsc -p tsconfig.build.json) into dist/.
  const build = await runToEnd(process.execPath, [join(projectRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], { cwd: projectRoot, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
  t.equal(build.code, 0, `the build succeeds ${build.stdout}`)
  for (const l of lines.filter(l => l.startsWith('COPY '))) {
    const words = l.split(/\s+/).slice(1)
    const dest = words.pop()!
    if (words[0]!.startsWith('--from=')) continue // dist (built above) and node_modules (below)
    for (const src of words) cpSync(join(projectRoot, src), join(app, dest.endsWith('/') ? join(dest, src) : dest), { recursive: true })
  }
  t.ok(existsSync(join(app, 'dist/src/server.js')) && existsSync(join(app, 'migrations/meta/_journal.json')) && existsSync(join(app, 'graphql/schema.graphql')))
  // The production dependencies: the project's own node_modules, after a check that the
  // compiled code imports nothing that `npm prune --omit=dev` takes away (tsx among them).
  const deps = new Set(Object.keys((JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies))
  const builtins = new Set(builtinModules)
  const missing = new Set<string>()
  for (const f of readdirSync(join(app, 'dist'), { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('.js'))) {
    const code = readFileSync(join(app, 'dist', f), 'utf8')
    for (const m of code.matchAll(/(?:^import [^'"]*|^export [^'"]* from |import\()\s*['"]([^'"./][^'"]*)['"]/gm)) {
      const spec = m[1]!
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
      if (!spec.startsWith('node:') && !builtins.has(name) && !deps.has(name)) missing.add(`${f}: ${spec}`)
    }
  }
  t.same([...missing], [], 'dist imports only production dependencies')
  symlinkSync(join(projectRoot, 'node_modules'), join(app, 'node_modules'))
  // RUN mkdir data && chown node:node data
  mkdirSync(join(app, 'data'))
  chownSync(join(app, 'data'), NOBODY.uid, NOBODY.gid)
})

const env = (extra: Record<string, string>): NodeJS.ProcessEnv => cleanEnv({ ...imageEnv, HOST: '127.0.0.1', ...extra })
const asNobody = { cwd: app, ...NOBODY }

async function stop (t: Test, server: Running): Promise<void> {
  server.child.kill('SIGTERM')
  const exit = await server.exited
  t.same(exit, { code: 0, signal: null }, 'SIGTERM: a clean exit', exit.code === 0 ? {} : { output: (server.stdout() + server.stderr()).slice(-3000) })
}

t.test('as nobody: the embedded default starts, prints no token; the compiled token command mints one', { skip }, async (t) => {
  const denied = await runToEnd(process.execPath, ['-e', "require('fs').writeFileSync('x', '')"], { ...asNobody, env: env({}) })
  t.not(denied.code, 0, 'the code directory is read-only to the runtime user')

  const port = await freePort()
  const server = run(process.execPath, cmd.slice(1), { ...asNobody, env: env({ PORT: String(port) }) })
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  await waitReady(server, port)
  t.ok(existsSync(join(app, 'data', 'pglite')) && existsSync(join(app, 'data', 'jwt-secret')), 'the database and secrets in ./data')
  t.notMatch(server.stdout() + server.stderr(), JWT, 'production: no token printed')
  t.match(server.stdout(), /node dist\/src\/cli\/token\.js/, 'but how to mint one')

  const minted = await runToEnd(process.execPath, ['dist/src/cli/token.js', '--role', 'ADMIN', '--region', '4112'], { ...asNobody, env: env({}) })
  t.equal(minted.code, 0, minted.stderr)
  t.match(minted.stdout, /^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+\n$/)
  const me = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } })
  t.equal(me.status, 200, 'the compiled command signs with the server\'s generated secret')
  t.equal((await fetch(`http://127.0.0.1:${port}/graphiql`)).status, 401, 'no GraphiQL in production')
  await stop(t, server)
})

t.test('as nobody, with DATABASE_URL: the compiled migrate command, then the server', { skip }, async (t) => {
  const name = `br_test_${process.pid}_image`
  const admin = new pg.Client({ connectionString: MACHINE_PG_URL })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  t.teardown(async () => {
    const a = new pg.Client({ connectionString: MACHINE_PG_URL })
    await a.connect()
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await a.end()
  })
  const collector = await otlpCollector()
  t.teardown(collector.close)
  const port = await freePort()
  const pgEnv = env({ PORT: String(port), DATABASE_URL: withDatabase(MACHINE_PG_URL, name), JWT_SECRET: TEST_SECRET, DATA_KEY: TEST_DATA_KEY, AUDIT_SIGNING_KEY: TEST_AUDIT_KEY })
  const tracedEnv = { ...pgEnv, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '200' }
  const migrated = await runToEnd(process.execPath, ['dist/src/cli/migrate.js'], { ...asNobody, env: pgEnv })
  t.equal(migrated.code, 0, migrated.stderr)
  t.match(migrated.stdout, /migrated and seeded/)

  const server = run(process.execPath, cmd.slice(1), { ...asNobody, env: tracedEnv })
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  await waitReady(server, port)
  const minted = await runToEnd(process.execPath, ['dist/src/cli/token.js', '--role', 'VIEWER', '--region', '411224'], { ...asNobody, env: pgEnv })
  const me = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } })
  t.equal(me.status, 200)
  t.notMatch(server.stdout() + server.stderr(), JWT)
  // The CMD's --import hooks the compiled ESM app too: the request's server span and its pg queries, in one trace.
  const page = await fetch(`http://127.0.0.1:${port}/api/v1/households?limit=1`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } })
  t.equal(page.status, 200)
  const traced = await waitForSpans(() => {
    const http = collector.spans.find(s => s.kind === 2 && attr(s, 'http.route') === '/api/v1/households')
    const pg = collector.spans.find(s => s.traceId === http?.traceId && (attr(s, 'db.system') === 'postgresql' || attr(s, 'db.system.name') === 'postgresql'))
    return http !== undefined && pg !== undefined ? { http, pg } : undefined
  })
  t.ok(traced, `the compiled server is traced: the HTTP span and a pg query (spans: ${[...new Set(collector.spans.map(s => s.name))].join(', ')})`)
  await stop(t, server)
})
