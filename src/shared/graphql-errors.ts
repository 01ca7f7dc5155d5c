import type { FastifyBaseLogger } from 'fastify'
import { GraphQLError, Kind, parse, visit, type ASTNode, type GraphQLFormattedError, type ValueNode } from 'graphql'
import { isAppError, type FieldError } from './errors.js'

/**
 * `Variable "$input" got invalid value … at "input.members[0].nationalId"; …` → input.members.0.nationalId;
 * `…; Field "status" is not defined by type "HouseholdPatch".` → input.status.
 */
function coercionField (message: string): FieldError | null {
  const m = /^Variable "\$(\w+)" (?:got invalid value .*? at "([^"]+)"|got invalid value|of required type|of non-null type)/s.exec(message)
  if (m === null) return null
  // An unknown or missing field is named itself, not only the object that has (or lacks) it.
  const field = /; Field "(\w+)" (?:is not defined by type|of required type)/.exec(message)?.[1]
  const path = (m[2] ?? m[1]!).replace(/\[(\d+)\]/g, '.$1') + (field === undefined ? '' : `.${field}`)
  return { path, message: message.replace(/^Variable "\$\w+" /, '') }
}

/** The path of `target` inside `value` (object fields by name, list items by index), or null. */
function pathIn (value: ValueNode, target: ASTNode, path: string[]): string[] | null {
  if (value.loc?.start === target.loc?.start && value.kind === target.kind) return path
  if (value.kind === Kind.OBJECT) {
    for (const f of value.fields) {
      if (f.loc?.start === target.loc?.start && target.kind === Kind.OBJECT_FIELD) return [...path, f.name.value]
      const found = pathIn(f.value, target, [...path, f.name.value])
      if (found !== null) return found
    }
  }
  if (value.kind === Kind.LIST) {
    for (const [i, item] of value.values.entries()) {
      const found = pathIn(item, target, [...path, String(i)])
      if (found !== null) return found
    }
  }
  return null
}

/**
 * A validation error about a value written inline in the document (not a variable):
 * the argument path of the node it points at, e.g. `input.members.0.nationalId`; a
 * required field left out adds that field's name.
 */
function literalField (error: GraphQLError): FieldError | null {
  const target = error.nodes?.[0]
  const body = error.source?.body
  if (target?.loc === undefined || body === undefined) return null
  let path: string[] | null = null
  try {
    visit(parse(body), {
      Argument (arg) {
        if (path === null) path = arg.loc?.start === target.loc?.start ? [arg.name.value] : pathIn(arg.value, target, [arg.name.value])
      }
    })
  } catch {
    return null
  }
  if (path === null) return null
  const missing = /^Field "[\w]+\.(\w+)" of required type .* was not provided/.exec(error.message)
  return { path: [...(path as string[]), ...(missing !== null ? [missing[1]!] : [])].join('.'), message: error.message }
}

const MAX_MESSAGE = 500
const clip = (message: string): string => message.length <= MAX_MESSAGE ? message : message.slice(0, MAX_MESSAGE - 1) + '…'

type FormattedError = GraphQLFormattedError & { extensions: Record<string, unknown> }

/**
 * Maps any error of a GraphQL request to the contract's shape (§4): AppErrors keep
 * their code (and fields); syntax, validation and variable errors are
 * BAD_USER_INPUT naming the variable path; anything else is masked as INTERNAL,
 * its details only in the log.
 */
export function formatGraphQLError (error: GraphQLError, log: FastifyBaseLogger, hideSuggestions = false): FormattedError[] {
  const original = error.originalError as (Error & { errors?: GraphQLError[], statusCode?: number }) | undefined
  // Mercurius wraps a failed validation of the document in one error holding the list.
  if (original !== undefined && Array.isArray(original.errors)) return original.errors.flatMap(e => formatGraphQLError(e, log, hideSuggestions))
  // "Did you mean …?" reveals the schema: production answers without it.
  const message = hideSuggestions ? error.message.replace(/ ?Did you mean .*\?$/s, '') : error.message
  const base = { message, ...(error.locations ? { locations: error.locations } : {}), ...(error.path ? { path: error.path } : {}) }
  if (original !== undefined && isAppError(original)) {
    if (original.status >= 500) log.error({ err: original }, 'resolver failed')
    return [{ ...base, extensions: { code: original.code, ...(original.fields.length > 0 ? { fields: original.fields } : {}) } }]
  }
  if (original === undefined || original instanceof GraphQLError || (typeof original.statusCode === 'number' && original.statusCode < 500)) {
    // Syntax, validation and variable-coercion errors: the request itself is bad.
    const field = coercionField(error.message) ?? literalField(error)
    const limit = error.extensions?.limit
    // graphql-js quotes the whole bad value: a 100,000-character string is not echoed back.
    return [{ ...base, message: clip(base.message), extensions: { code: 'BAD_USER_INPUT', fields: field ? [{ path: field.path, message: clip(field.message) }] : [], ...(limit !== undefined ? { limit } : {}) } }]
  }
  log.error({ err: original }, 'resolver failed')
  return [{ message: 'Internal server error', ...(error.path ? { path: error.path } : {}), extensions: { code: 'INTERNAL' } }]
}

