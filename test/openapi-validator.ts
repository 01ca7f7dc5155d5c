/**
 * openapi.yaml as a test oracle: the document, its operations, and a check of an
 * answer (status, media type, body — each line of NDJSON) against the document's
 * schemas with Ajv (JSON Schema 2020-12, as OpenAPI 3.1 uses). Shared by the
 * conformance and fuzz tests.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import type { LightMyRequestResponse } from 'fastify'
import { parse } from 'yaml'
import { projectRoot } from '../src/paths.js'

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

export interface MediaType { schema?: object & { $ref?: string, example?: unknown }, example?: unknown }
export interface Response { $ref?: string, description: string, content?: Record<string, MediaType> }
export interface Operation { responses: Record<string, Response>, requestBody?: { content: Record<string, MediaType> }, security?: unknown[] }
interface Doc { paths: Record<string, Record<string, Operation>>, components: { responses: Record<string, Response> } }

export const doc = parse(readFileSync(join(projectRoot, 'openapi.yaml'), 'utf8')) as Doc
export const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats(ajv)
ajv.addSchema({ $id: 'https://beneficiary-registry.invalid/openapi.yaml', components: doc.components })
const validators = new Map<object, ValidateFunction>()
/** A validator for a schema of the document; its `#/components/…` references point into the document. */
export function validatorOf (schema: object): ValidateFunction {
  let v = validators.get(schema)
  if (v === undefined) {
    v = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"https://beneficiary-registry.invalid/openapi.yaml#/components/')) as object)
    validators.set(schema, v)
  }
  return v
}
/** The schema itself, or the component it references. */
export const schemaOf = (schema: (object & { $ref?: string, example?: unknown }) | undefined): (object & { example?: unknown }) | undefined =>
  schema?.$ref?.startsWith('#/components/schemas/') === true ? (doc.components as unknown as { schemas: Record<string, object & { example?: unknown }> }).schemas[schema.$ref.slice(21)] : schema
export const responseOf = (r: Response): Response => (r.$ref === undefined ? r : doc.components.responses[r.$ref.replace('#/components/responses/', '')]!)
const METHODS = ['get', 'post', 'put', 'patch', 'delete']
export const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([m]) => METHODS.includes(m)).map(([method, op]) => ({ path, method, op })))

/**
 * What is wrong with an answer of operation `method path` (a path as the document
 * names it, e.g. `/api/v1/households/{id}`): an undocumented status or media type, a
 * body (or NDJSON line) that does not match the schema. Empty when it conforms.
 */
export function nonConformance (method: string, path: string, res: LightMyRequestResponse): string[] {
  const operation = doc.paths[path]?.[method]
  if (operation === undefined) return ['not in openapi.yaml']
  const documented = operation.responses[String(res.statusCode)] ?? operation.responses.default
  if (documented === undefined) return [`status ${res.statusCode} not documented`]
  const content = responseOf(documented).content
  if (content === undefined) return []
  const media = String(res.headers['content-type'] ?? '').split(';')[0]!.trim()
  const mediaType = content[media]
  if (mediaType === undefined) return [`media type ${media} not documented (${Object.keys(content).join(', ')})`]
  if (mediaType.schema === undefined) return []
  const v = validatorOf(mediaType.schema)
  let bodies: unknown[]
  try {
    bodies = media === 'application/x-ndjson'
      ? res.body.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as unknown)
      : media.endsWith('json') ? [res.json() as unknown] : [res.body]
  } catch (err) {
    return [`body is not ${media}: ${(err as Error).message}`]
  }
  return bodies.flatMap(body => v(body) ? [] : [`${media} ${ajv.errorsText(v.errors)}`])
}
