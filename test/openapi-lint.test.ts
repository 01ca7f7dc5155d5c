/**
 * openapi.yaml is a valid OpenAPI 3.1 document for the tools integrators use: Redocly's
 * linter with its recommended rules (redocly.yaml, nothing relaxed) finds no error and
 * no warning, and swagger-parser validates it (structure and every $ref). Both run
 * offline, from node_modules.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import SwaggerParser from '@apidevtools/swagger-parser'
import t from 'tap'
import { projectRoot } from '../src/paths.js'
import { operations } from './openapi-validator.js'

t.test('redocly lint (recommended rules): 0 errors, 0 warnings', async (t) => {
  const { stdout } = await promisify(execFile)(join(projectRoot, 'node_modules/.bin/redocly'), ['lint', '--format=json'], {
    cwd: projectRoot,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' })) // a failed lint exits 1 with its report on stdout
  const report = JSON.parse(stdout) as { totals: { errors: number, warnings: number, ignored: number }, problems: Array<{ ruleId: string, message: string, location: Array<{ pointer: string }> }> }
  t.same(report.problems.map(p => `${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`), [])
  t.same(report.totals, { errors: 0, warnings: 0, ignored: 0 })
})

t.test('swagger-parser validates the document', async (t) => {
  const api = await SwaggerParser.validate(join(projectRoot, 'openapi.yaml'))
  t.match(api, { openapi: /^3\.1\./ })
})

t.test('every operation has a unique operationId', async (t) => {
  const ids = operations.map(({ op }) => op.operationId)
  t.notOk(ids.includes(undefined), 'each has one')
  t.equal(new Set(ids).size, ids.length, 'no two alike')
})
