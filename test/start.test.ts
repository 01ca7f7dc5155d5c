/**
 * What a newcomer does first (README "First query"): `npm start` on an empty data
 * directory, a token from `TOKEN=$(npm run -s token …)`, and SIGTERM to the npm process
 * stopping the server. Real processes, the embedded database.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { projectRoot } from '../src/paths.js'
import { cleanEnv, freePort, JWT, portClosed, run, runToEnd, waitReady } from './processes.js'

const dataDir = mkdtempSync(join(tmpdir(), 'br-start-'))
const otherDataDir = mkdtempSync(join(tmpdir(), 'br-start-other-'))
t.teardown(() => {
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(otherDataDir, { recursive: true, force: true })
})

t.test('npm start, npm run -s token, SIGTERM', async (t) => {
  const port = await freePort()
  const env = cleanEnv({ NODE_ENV: 'development', DATA_DIR: dataDir, PORT: String(port), DEMO_DATA: 'false' })
  const server = run('npm', ['start'], { cwd: projectRoot, env })
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  await waitReady(server, port)
  t.match(server.stdout(), JWT, 'development: the start-up banner shows a token')

  const minted = await runToEnd('npm', ['run', '-s', 'token', '--', '--role', 'ADMIN', '--region', '4112'], { cwd: projectRoot, env })
  t.equal(minted.code, 0)
  t.match(minted.stdout, /^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+\n$/, 'stdout is the token and nothing else (for TOKEN=$(…))')
  const me = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } })
  t.equal(me.status, 200, 'the minted token is accepted')

  const other = await runToEnd('npm', ['run', '-s', 'token', '--', '--role', 'ADMIN', '--region', '4112'], { cwd: projectRoot, env: { ...env, DATA_DIR: otherDataDir } })
  const refused = await fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { authorization: `Bearer ${other.stdout.trim()}` } })
  t.equal(refused.status, 401, 'a token minted with another DATA_DIR is refused')
  t.match((await refused.json() as { detail: string }).detail, /DATA_DIR\/jwt-secret/, '… with a hint')

  t.ok(server.child.kill('SIGTERM'), 'SIGTERM sent to the npm process')
  const exit = await Promise.race([server.exited, new Promise<'timeout'>(resolve => setTimeout(() => { resolve('timeout') }, 15_000))])
  t.not(exit, 'timeout', 'npm exits')
  t.ok(await portClosed(port), 'the server stopped listening')
  t.match(server.stdout(), /"signal":"SIGTERM","msg":"closing"/, 'the server itself received SIGTERM and closed gracefully')
})
