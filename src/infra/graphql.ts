import { readFileSync } from 'node:fs'
import fp from 'fastify-plugin'
import { buildSchema, GraphQLError, type ExecutionResult, type GraphQLFieldResolver, type GraphQLFormattedError } from 'graphql'
import { JSONResolver } from 'graphql-scalars'
import mercurius, { type IResolvers, type MercuriusContext, type MercuriusLoaders } from 'mercurius'
import { graphqlModules } from '../modules/index.js'
import { servicesOf, type Services } from '../modules/services.js'
import { forbidden, isAppError, type FieldError } from '../shared/errors.js'
import { canPerform, OPERATIONS } from '../shared/policy.js'
import type { Principal } from '../shared/principal.js'
import { paths } from '../paths.js'

declare module 'mercurius' {
  interface MercuriusContext {
    principal: Principal
    services: Services
  }
}

type Resolver = GraphQLFieldResolver<unknown, MercuriusContext>

/**
 * Merges the modules' resolvers and guards every Query and Mutation field with its
 * action from OPERATIONS. A root field without an OPERATIONS entry or without a
 * resolver stops start-up: nothing is reachable by default.
 */
export function buildResolvers (sdl: string): IResolvers {
  const schema = buildSchema(sdl)
  const merged: Record<string, Record<string, unknown>> = { JSON: JSONResolver as unknown as Record<string, unknown> }
  for (const m of graphqlModules) {
    for (const [type, fields] of Object.entries(m.resolvers)) {
      merged[type] = { ...merged[type], ...(fields as Record<string, unknown>) }
    }
  }
  for (const root of [schema.getQueryType(), schema.getMutationType()]) {
    if (root == null) continue
    const impl = merged[root.name] ?? {}
    for (const field of Object.keys(root.getFields())) {
      const key = `${root.name}.${field}`
      const action = OPERATIONS[key]
      const resolve = impl[field] as Resolver | undefined
      if (action === undefined) throw new Error(`${key} has no entry in the policy module's OPERATIONS`)
      if (resolve === undefined) throw new Error(`${key} has no resolver`)
      if (action === 'public') continue
      impl[field] = (async (parent, args, ctx, info) => {
        if (!canPerform(ctx.principal, action)) throw forbidden()
        return await resolve(parent, args, ctx, info)
      }) satisfies Resolver
    }
    merged[root.name] = impl
  }
  return merged as IResolvers
}

function mergeLoaders (): MercuriusLoaders {
  const merged: MercuriusLoaders = {}
  for (const m of graphqlModules) {
    for (const [type, fields] of Object.entries(m.loaders ?? {})) merged[type] = { ...merged[type], ...fields }
  }
  return merged
}

/** `Variable "$input" got invalid value … at "input.members[0].nationalId"; …` → input.members.0.nationalId */
function coercionField (message: string): FieldError | null {
  const m = /^Variable "\$(\w+)" (?:got invalid value .*? at "([^"]+)"|got invalid value|of required type|of non-null type)/s.exec(message)
  if (m === null) return null
  const path = (m[2] ?? m[1]!).replace(/\[(\d+)\]/g, '.$1')
  return { path, message: message.replace(/^Variable "\$\w+" /, '') }
}

type FormattedError = GraphQLFormattedError & { extensions: Record<string, unknown> }

function formatError (error: GraphQLError, log: MercuriusContext['reply']['log']): FormattedError[] {
  const original = error.originalError as (Error & { errors?: GraphQLError[], statusCode?: number }) | undefined
  // Mercurius wraps a failed validation of the document in one error holding the list.
  if (original !== undefined && Array.isArray(original.errors)) return original.errors.flatMap(e => formatError(e, log))
  const base = { message: error.message, ...(error.locations ? { locations: error.locations } : {}), ...(error.path ? { path: error.path } : {}) }
  if (original !== undefined && isAppError(original)) {
    if (original.status >= 500) log.error({ err: original }, 'resolver failed')
    return [{ ...base, extensions: { code: original.code, ...(original.fields.length > 0 ? { fields: original.fields } : {}) } }]
  }
  if (original === undefined || original instanceof GraphQLError || (typeof original.statusCode === 'number' && original.statusCode < 500)) {
    // Syntax, validation and variable-coercion errors: the request itself is bad.
    const field = coercionField(error.message)
    return [{ ...base, extensions: { code: 'BAD_USER_INPUT', fields: field ? [field] : [] } }]
  }
  log.error({ err: original }, 'resolver failed')
  return [{ message: 'Internal server error', ...(error.path ? { path: error.path } : {}), extensions: { code: 'INTERNAL' } }]
}

export default fp<{ graphiql: boolean }>(async (app, opts) => {
  const sdl = readFileSync(paths.schema, 'utf8')
  await app.register(mercurius, {
    schema: sdl,
    resolvers: buildResolvers(sdl),
    loaders: mergeLoaders(),
    path: '/graphql',
    graphiql: opts.graphiql,
    queryDepth: 12,
    // Errors outside execution (authentication, a malformed request) go to the app's
    // error handler, which answers GraphQL-shaped on this route.
    errorHandler: false,
    context: (req) => ({ principal: req.principal, services: servicesOf(req) }),
    errorFormatter: (execution: ExecutionResult, ctx: MercuriusContext) => {
      const errors = (execution.errors ?? []).flatMap(e => formatError(e, ctx.reply.log))
      const badRequest = execution.data == null && errors.length > 0 && errors.every(e => e.extensions.code === 'BAD_USER_INPUT' && e.path === undefined)
      return { statusCode: badRequest ? 400 : 200, response: { data: execution.data ?? null, errors } }
    }
  })
}, { name: 'graphql', dependencies: ['auth'] })

