/**
 * Verifies an exported audit log offline, with no database and no service:
 *   npm run audit:verify -- --log log.ndjson --head head.json --keys audit-keys.json
 * `--log`: `GET /api/v1/audit/log` from position 1 up to (at least) the head's size;
 * `--head`: a signed tree head (`GET /api/v1/audit/tree-head`);
 * `--keys`: the public keys (`GET /.well-known/audit-keys.json`, kept where the head is kept).
 * Exits 0 when the log is the one the head signed, 1 naming the first bad position when
 * not, 2 when the files cannot be read.
 */
import { createReadStream, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { verifyExport } from '../modules/audit/audit-offline.js'
import { parsePublicKeys, type TreeHead } from '../shared/tree-heads.js'

const usage = 'usage: npm run audit:verify -- --log FILE --head FILE --keys FILE'
let values: { log?: string, head?: string, keys?: string }
try {
  values = parseArgs({ options: { log: { type: 'string' }, head: { type: 'string' }, keys: { type: 'string' } } }).values
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`)
  process.exit(2)
}
if (values.log === undefined || values.head === undefined || values.keys === undefined) {
  console.error(usage)
  process.exit(2)
}

let head: TreeHead
let keys: ReturnType<typeof parsePublicKeys>
try {
  head = JSON.parse(readFileSync(values.head, 'utf8')) as TreeHead
  keys = parsePublicKeys(readFileSync(values.keys, 'utf8'))
} catch (err) {
  console.error(`cannot read the head or the keys: ${(err as Error).message}`)
  process.exit(2)
}

const lines = createInterface({ input: createReadStream(values.log), crlfDelay: Infinity })
try {
  const result = await verifyExport(lines, head, keys)
  if (result.ok) {
    console.log(`valid: ${result.treeSize} entries make root ${result.rootHash}, signed by key ${head.keyId} at ${head.timestamp}`)
  } else {
    console.log(`INVALID${result.position !== null ? ` at position ${result.position}` : ''}: ${result.reason}`)
    process.exitCode = 1
  }
} catch (err) {
  console.error(`cannot read the log: ${(err as Error).message}`)
  process.exitCode = 2
}
