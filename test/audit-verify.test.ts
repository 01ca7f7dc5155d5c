/**
 * `npm run audit:verify`: the offline verifier, run as a command on files exported from
 * the service, with no database and no service behind it.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { leafHash } from '../src/modules/audit/audit-merkle.js'
import { projectRoot } from '../src/paths.js'
import { buildApp, freshDatabase, uniqueSub } from './helper.js'

const app = await buildApp(t, { database: await freshDatabase() })
const admin = app.as({ sub: uniqueSub('admin'), role: 'ADMIN', region: '4112' })
for (const code of ['411224101200', '411224101201', '411224101202', '411224101204', '411224101205']) {
  const res = await admin.gql('mutation ($c: String!) { updateRegion(code: $c, expectedVersion: 1, input: { ruralPopulation: 250 }) { version } }', { c: code })
  if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
}
await app.sequenced()
const head = (await admin.get('/api/v1/audit/tree-head')).json() as { treeSize: number, rootHash: string }
const keys = (await app.app.inject({ method: 'GET', url: '/.well-known/audit-keys.json' })).body
const lines = (await admin.get(`/api/v1/audit/log?to=${head.treeSize}`)).body.split('\n').filter(l => l !== '')
const dir = mkdtempSync(join(tmpdir(), 'br-audit-verify-'))
writeFileSync(join(dir, 'keys.json'), keys)

/** Runs the command on the export as given (and the head, as given) — a process of its own. */
function verify (logLines: string[], h: unknown = head): { status: number | null, out: string } {
  writeFileSync(join(dir, 'log.ndjson'), logLines.join('\n') + '\n')
  writeFileSync(join(dir, 'head.json'), JSON.stringify(h))
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/audit-verify.ts', '--log', join(dir, 'log.ndjson'), '--head', join(dir, 'head.json'), '--keys', join(dir, 'keys.json')],
    { cwd: projectRoot, encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 60_000 })
  return { status: res.status, out: res.stdout + res.stderr }
}

t.test('a faithful export verifies', async (t) => {
  t.equal(head.treeSize, 5)
  const res = verify(lines)
  t.equal(res.status, 0, res.out)
  t.match(res.out, `valid: 5 entries make root ${head.rootHash}`)
})

t.test('an altered field is named at its position', async (t) => {
  const altered = lines.map((l, i) => i === 2 ? l.replace('"ruralPopulation":250', '"ruralPopulation":25') : l)
  t.not(altered[2], lines[2])
  const res = verify(altered)
  t.equal(res.status, 1)
  t.match(res.out, /INVALID at position 3: the entry was altered/)
})

t.test('an altered entry whose leafHash was recomputed too: the signed root catches it', async (t) => {
  const entry = JSON.parse(lines[1]!) as Record<string, unknown>
  const { leafHash: _old, ...rest } = entry
  const forged = { ...rest, actorSub: 'someone-else' }
  const res = verify(lines.map((l, i) => i === 1 ? JSON.stringify({ ...forged, leafHash: leafHash(forged).toString('hex') }) : l))
  t.equal(res.status, 1)
  t.match(res.out, /INVALID: the entries do not make the signed root/)
})

t.test('a removed entry, an inserted one and two swapped are named at the first bad position', async (t) => {
  const removed = verify([...lines.slice(0, 1), ...lines.slice(2)])
  t.equal(removed.status, 1)
  t.match(removed.out, /INVALID at position 2: position 2 is missing/)
  const inserted = verify([...lines.slice(0, 3), lines[1]!, ...lines.slice(3)])
  t.equal(inserted.status, 1)
  t.match(inserted.out, /INVALID at position 4: a line with position 2 stands where position 4 belongs/)
  const swapped = verify([lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)])
  t.equal(swapped.status, 1)
  t.match(swapped.out, /INVALID at position 2/)
  const truncated = verify(lines.slice(0, 4))
  t.equal(truncated.status, 1)
  t.match(truncated.out, /INVALID at position 5: the log ends at position 4/)
})

t.test('a forged head fails its signature', async (t) => {
  for (const forged of [{ ...head, treeSize: 4 }, { ...head, rootHash: 'f'.repeat(64) }, { ...head, keyId: 'unknown' }]) {
    const res = verify(lines, forged)
    t.equal(res.status, 1)
    t.match(res.out, /INVALID: the tree head: (the signature does not match|no public key)/)
  }
})

t.test('missing or unreadable files: exit 2 with the usage', async (t) => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/audit-verify.ts', '--log', 'x'], { cwd: projectRoot, encoding: 'utf8', env: { PATH: process.env.PATH } })
  t.equal(res.status, 2)
  t.match(res.stderr, /usage: npm run audit:verify/)
  const missing = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/audit-verify.ts', '--log', join(dir, 'none'), '--head', join(dir, 'none'), '--keys', join(dir, 'keys.json')], { cwd: projectRoot, encoding: 'utf8', env: { PATH: process.env.PATH } })
  t.equal(missing.status, 2)
})
