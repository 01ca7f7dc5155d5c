import type { FastifyBaseLogger } from 'fastify'
import { GraphQLError, type GraphQLFormattedError } from 'graphql'
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
    const field = coercionField(error.message)
    const limit = error.extensions?.limit
    return [{ ...base, extensions: { code: 'BAD_USER_INPUT', fields: field ? [field] : [], ...(limit !== undefined ? { limit } : {}) } }]
  }
  log.error({ err: original }, 'resolver failed')
  return [{ message: 'Internal server error', ...(error.path ? { path: error.path } : {}), extensions: { code: 'INTERNAL' } }]
}

