/**
 * Verifies an exported audit log offline, with no database and no service:
 *   npm run audit:verify -- --log log.ndjson --head head.json --keys audit-keys.json
 *   npm run audit:verify -- --archive DIR        (a month archived by npm run audit:archive)
 * `--log`: `GET /api/v1/audit/log` from position 1 up to (at least) the head's size;
 * `--head`: a signed tree head (`GET /api/v1/audit/tree-head`);
 * `--keys`: the public keys (`GET /.well-known/audit-keys.json`, kept where the head is kept);
 * `--proof`: with a log of positions first..last only, the range proof that joins them to
 * the head (an archive's proof.json); `--archive DIR` reads DIR's log.ndjson, head.json,
 * keys.json and proof.json (keys given beside it are used instead of its own: check its
 * head against keys kept elsewhere).
 * Exits 0 when the log is the one the head signed, 1 naming the first bad position when
 * not, 2 when the files cannot be read.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { verifyExport, type RangeProof } from '../modules/audit/audit-offline.js'
import { parsePublicKeys, type TreeHead } from '../shared/tree-heads.js'

const usage = 'usage: npm run audit:verify -- --log FILE --head FILE --keys FILE [--proof FILE] | --archive DIR'
let values: { log?: string, head?: string, keys?: string, proof?: string, archive?: string }
try {
  values = parseArgs({ options: { log: { type: 'string' }, head: { type: 'string' }, keys: { type: 'string' }, proof: { type: 'string' }, archive: { type: 'string' } } }).values
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`)
  process.exit(2)
}
if (values.archive !== undefined) {
  const dir = values.archive
  values = { log: join(dir, 'log.ndjson'), head: join(dir, 'head.json'), keys: values.keys ?? join(dir, 'keys.json'), ...(existsSync(join(dir, 'proof.json')) ? { proof: join(dir, 'proof.json') } : {}) }
  if (!existsSync(join(dir, 'proof.json'))) {
    // A month with no entries is archived as its manifest, head and keys alone.
    console.log(`valid: ${dir} holds no entries`)
    process.exit(0)
  }
}
if (values.log === undefined || values.head === undefined || values.keys === undefined) {
  console.error(usage)
  process.exit(2)
}

let head: TreeHead
let keys: ReturnType<typeof parsePublicKeys>
let proof: RangeProof | undefined
try {
  head = JSON.parse(readFileSync(values.head, 'utf8')) as TreeHead
  keys = parsePublicKeys(readFileSync(values.keys, 'utf8'))
  if (values.proof !== undefined) proof = JSON.parse(readFileSync(values.proof, 'utf8')) as RangeProof
} catch (err) {
  console.error(`cannot read the head, the keys or the proof: ${(err as Error).message}`)
  process.exit(2)
}

const lines = createInterface({ input: createReadStream(values.log), crlfDelay: Infinity })
try {
  const result = await verifyExport(lines, head, keys, proof)
  if (result.ok) {
    const what = proof === undefined ? `${result.treeSize} entries make` : `positions ${proof.first}–${proof.last} with their range proof make the tree of ${result.treeSize} entries,`
    console.log(`valid: ${what} root ${result.rootHash}, signed by key ${head.keyId} at ${head.timestamp}`)
  } else {
    console.log(`INVALID${result.position !== null ? ` at position ${result.position}` : ''}: ${result.reason}`)
    process.exitCode = 1
  }
} catch (err) {
  console.error(`cannot read the log: ${(err as Error).message}`)
  process.exitCode = 2
}
