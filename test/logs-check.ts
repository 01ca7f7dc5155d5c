/**
 * Runs once after the suite (tap's `after`): reads every log line the test apps wrote
 * (test/helper.ts testServerOptions captures them, one file per test process) and fails
 * the run when one still holds a national ID, a phone number, a bank account number or a
 * token — anything the logger's scrub would remove, i.e. anything that slipped past it —
 * or when one is not valid JSON.
 * The files are removed afterwards, so each run checks its own lines.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { scrub } from '../src/infra/logger.js'
import { LOG_CAPTURE_DIR } from './helper.js'

const files = existsSync(LOG_CAPTURE_DIR) ? readdirSync(LOG_CAPTURE_DIR).filter(f => f.endsWith('.ndjson')) : []
let lines = 0
const leaks: string[] = []
const broken: string[] = []
for (const f of files) {
  readFileSync(join(LOG_CAPTURE_DIR, f), 'utf8').split('\n').forEach((line, i) => {
    if (line === '') return
    lines++
    try { JSON.parse(line) } catch { broken.push(`${f}:${i + 1}: ${scrub(line).slice(0, 300)}`) }
    const clean = scrub(line)
    // Show where, and the line with the secret redacted: the report must not leak it again.
    if (clean !== line) leaks.push(`${f}:${i + 1}: ${clean.slice(0, 300)}`)
  })
}
rmSync(LOG_CAPTURE_DIR, { recursive: true, force: true })
if (broken.length > 0) {
  console.error(`# log check: ${broken.length} of ${lines} log lines are not valid JSON:`)
  for (const l of broken.slice(0, 20)) console.error(`#   ${l}`)
  process.exitCode = 1
}
if (leaks.length > 0) {
  console.error(`# log check: ${leaks.length} of ${lines} log lines hold personal data or a token (shown redacted):`)
  for (const l of leaks.slice(0, 20)) console.error(`#   ${l}`)
  process.exitCode = 1
} else if (broken.length === 0) {
  console.log(`# log check: ${lines} log lines from ${files.length} test processes, each valid JSON, no personal data or token`)
}
