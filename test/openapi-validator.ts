/**
 * openapi.yaml as a test oracle: the document, its operations, and a check of an
 * answer (status, media type, body — each line of NDJSON) against the document's
 * schemas with Ajv (JSON Schema 2020-12, as OpenAPI 3.1 uses). Shared by the
 * conformance and fuzz tests.
 *
 * The check is strict both ways. Every object schema that lists `properties` is read
 * as closed (`unevaluatedProperties: false` unless it says otherwise), so a returned
 * field the document does not name fails. And every property of every object an
 * answer matched is counted (`observed`), so that the conformance test can fail a
 * documented field no answer ever returns, and an optional field every answer returns.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import type { LightMyRequestResponse } from 'fastify'
import { parse } from 'yaml'
import { projectRoot } from '../src/paths.js'

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

export interface Schema {
  $ref?: string
  example?: unknown
  type?: string | string[]
  format?: string
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  allOf?: Schema[]
  additionalProperties?: boolean | Schema
  unevaluatedProperties?: boolean | Schema
}
export interface MediaType { schema?: Schema, example?: unknown }
export interface Response { $ref?: string, description: string, content?: Record<string, MediaType> }
export interface Operation { operationId?: string, responses: Record<string, Response>, requestBody?: { content: Record<string, MediaType> }, security?: unknown[] }
interface Doc { paths: Record<string, Record<string, Operation>>, components: { responses: Record<string, Response>, schemas: Record<string, Schema> } }

export const doc = parse(readFileSync(join(projectRoot, 'openapi.yaml'), 'utf8')) as Doc

/** A copy of a schema in which every object schema listing properties is closed to others. */
function closed (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed)
  if (node === null || typeof node !== 'object') return node
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) out[k] = k === 'example' || k === 'examples' ? v : closed(v)
  if (out.properties !== undefined && typeof out.properties === 'object' && out.additionalProperties === undefined && out.unevaluatedProperties === undefined) out.unevaluatedProperties = false
  return out
}

export const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats(ajv)
const DOC_ID = 'https://beneficiary-registry.invalid/openapi.yaml'
ajv.addSchema({ $id: DOC_ID, components: closed(doc.components) })
const validators = new Map<object, ValidateFunction>()
/** A (closed) validator for a schema of the document; its `#/components/…` references point into the document. */
export function validatorOf (schema: object): ValidateFunction {
  let v = validators.get(schema)
  if (v === undefined) {
    v = ajv.compile(closed(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${DOC_ID}#/components/`))) as object)
    validators.set(schema, v)
  }
  return v
}
/** Ajv's errors with where they are and what they name (e.g. the undocumented property). */
export const errorsText = (v: ValidateFunction): string =>
  (v.errors ?? []).map(e => `${e.instancePath === '' ? 'body' : e.instancePath} ${e.message ?? ''}${e.keyword === 'unevaluatedProperties' ? `: ${String(e.params.unevaluatedProperty)}` : ''}`).join('; ')

/** The schema a `#/components/schemas/…` reference names. */
const resolved = (schema: Schema): { schema: Schema, at: string | null } =>
  schema.$ref?.startsWith('#/components/schemas/') === true ? { schema: doc.components.schemas[schema.$ref.slice(21)]!, at: schema.$ref } : { schema, at: null }
/** The schema itself, or the component it references. */
export const schemaOf = (schema: Schema | undefined): Schema | undefined => (schema === undefined ? undefined : resolved(schema).schema)
export const responseOf = (r: Response): Response => (r.$ref === undefined ? r : doc.components.responses[r.$ref.replace('#/components/responses/', '')]!)
const METHODS = ['get', 'post', 'put', 'patch', 'delete']
export const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([m]) => METHODS.includes(m)).map(([method, op]) => ({ path, method, op })))

/** Per property of an object schema (`<where>/properties/<name>`): objects matched by its schema, and of them those that had it. */
export const observed = new Map<string, { objects: number, present: number }>()

/** Counts the properties of a value that matched `schema` (found at `at`), all the way down. */
function observe (schema: Schema, value: unknown, at: string): void {
  const r = resolved(schema)
  const s = r.schema
  const where = r.at ?? at
  for (const [i, part] of (s.allOf ?? []).entries()) observe(part, value, `${where}/allOf/${i}`)
  if (Array.isArray(value)) {
    if (s.items !== undefined) for (const item of value) observe(s.items, item, `${where}/items`)
    return
  }
  if (value === null || typeof value !== 'object' || s.properties === undefined) return
  for (const [name, property] of Object.entries(s.properties)) {
    const key = `${where}/properties/${name}`
    const o = observed.get(key) ?? { objects: 0, present: 0 }
    o.objects++
    if (Object.hasOwn(value, name)) {
      o.present++
      observe(property, (value as Record<string, unknown>)[name], key)
    }
    observed.set(key, o)
  }
}

/** Every property the schema (found at `at`) documents, all the way down, with whether it is required. */
export function documentedProperties (schema: Schema, at: string, out = new Map<string, boolean>(), seen = new Set<string>()): Map<string, boolean> {
  const r = resolved(schema)
  if (r.at !== null) {
    if (seen.has(r.at)) return out
    seen.add(r.at)
  }
  const s = r.schema
  const where = r.at ?? at
  for (const [i, part] of (s.allOf ?? []).entries()) documentedProperties(part, `${where}/allOf/${i}`, out, seen)
  if (s.items !== undefined) documentedProperties(s.items, `${where}/items`, out, seen)
  for (const [name, property] of Object.entries(s.properties ?? {})) {
    out.set(`${where}/properties/${name}`, s.required?.includes(name) === true)
    documentedProperties(property, `${where}/properties/${name}`, out, seen)
  }
  return out
}

/** Where a response's media type schema sits in the document (its own pointer, or the shared response's). */
export function mediaPointer (method: string, path: string, status: string, media: string): string {
  const r = doc.paths[path]![method]!.responses[status]!
  const base = r.$ref ?? `#/paths/${path.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/responses/${status}`
  return `${base}/content/${media.replaceAll('/', '~1')}/schema`
}

/**
 * What is wrong with an answer of operation `method path` (a path as the document
 * names it, e.g. `/api/v1/households/{id}`): an undocumented status or media type, a
 * body (or NDJSON line) that does not match the schema. Empty when it conforms; a
 * conforming answer's properties are counted in `observed`.
 */
export function nonConformance (method: string, path: string, res: LightMyRequestResponse): string[] {
  const operation = doc.paths[path]?.[method]
  if (operation === undefined) return ['not in openapi.yaml']
  const status = operation.responses[String(res.statusCode)] !== undefined ? String(res.statusCode) : 'default'
  const documented = operation.responses[status]
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
  const problems = bodies.flatMap(body => v(body) ? [] : [`${media} ${errorsText(v)}`])
  if (problems.length === 0) for (const body of bodies) observe(mediaType.schema, body, mediaPointer(method, path, status, media))
  return problems
}
