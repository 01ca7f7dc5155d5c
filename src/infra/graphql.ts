import { readFileSync } from 'node:fs'
import { trace } from '@opentelemetry/api'
import DataLoader from 'dataloader'
import fp from 'fastify-plugin'
import { buildSchema, getOperationAST, GraphQLScalarType, isObjectType, NoSchemaIntrospectionCustomRule, type DocumentNode, type ExecutionResult, type GraphQLError, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql'
import { getVariableValues } from 'graphql/execution/values.js'
import { DateTimeResolver, JSONResolver } from 'graphql-scalars'
import mercurius, { type IResolvers, type MercuriusContext } from 'mercurius'
import { graphqlModules } from '../modules/index.js'
import { servicesOf, type Services } from '../modules/services.js'
import { badInput, forbidden, type FieldError } from '../shared/errors.js'
import { formatGraphQLError } from '../shared/graphql-errors.js'
import { prefetched } from '../shared/prefetch.js'
import { canPerform, OPERATIONS } from '../shared/policy.js'
import type { Principal } from '../shared/principal.js'
import { paths } from '../paths.js'
import { checkCost, GRAPHQL_LIMITS, maxAliasesRule, maxDepthRule } from './graphql-limits.js'
import { isDatabaseBusy, isDatabaseUnavailable } from '../db/index.js'
import { RETRY_AFTER_S } from './limits.js'
import { bindRequestLog } from './logger.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The GraphQL operation this request runs (set before execution), for the log, the metrics and the trace. */
    graphqlOperation: { name: string, type: string } | null
  }
}

declare module 'mercurius' {
  interface MercuriusContext {
    principal: Principal
    services: Services
    /** This request's batch of each nested field with a loader (see `loaderResolvers`). */
    batches: Map<string, DataLoader<LoaderQuery, unknown>>
    /** The operation about to run (set before execution), for `variableErrors`. */
    operation?: { schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> }
  }
}

/**
 * A variable of the wrong type in a document run compiled (graphql-jit) is reported
 * without the path inside it — `$input`, where graphql-js says
 * `input.members[0].nationalId` — so the variables are coerced again by graphql-js for
 * its errors. Only on that error path: a valid request is coerced once.
 */
function variableErrors (errors: readonly GraphQLError[], ctx: MercuriusContext): readonly GraphQLError[] {
  const operation = ctx.operation
  if (operation === undefined || !errors.some(e => e.message.startsWith('Variable "$'))) return errors
  const request = (ctx.reply.request.body ?? ctx.reply.request.query) as { operationName?: unknown } | undefined
  const name = typeof request?.operationName === 'string' ? request.operationName : undefined
  const definitions = getOperationAST(operation.document, name)?.variableDefinitions ?? []
  return getVariableValues(operation.schema, definitions, operation.variables, { maxErrors: 50 }).errors ?? errors
}

interface LoaderQuery { obj: unknown, params: Record<string, unknown> }
type Loader = (queries: LoaderQuery[], ctx: MercuriusContext) => Promise<unknown[]>

type Resolver = GraphQLFieldResolver<unknown, MercuriusContext>

/** Text that cannot be stored as it is: PostgreSQL refuses NUL; an unpaired surrogate is not Unicode (nor hashable for the audit chain). */
const unstorable = (s: string): boolean => s.includes('\u0000') || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)
const UNSTORABLE = 'must be Unicode text without NUL characters'

/**
 * Each argument string (and JSON key) that cannot be stored is bad input, named by its
 * path (e.g. `input.members.0.name`). Iterative, so that deeply nested JSON cannot
 * exhaust the stack.
 */
function unstorableFields (args: Record<string, unknown>): FieldError[] {
  const fields: FieldError[] = []
  const queue: Array<[unknown, string]> = Object.entries(args).map(([k, v]) => [v, k])
  for (let i = 0; i < queue.length; i++) {
    const [value, path] = queue[i]!
    if (typeof value === 'string') {
      if (unstorable(value)) fields.push({ path, message: UNSTORABLE })
    } else if (Array.isArray(value)) {
      value.forEach((v, n) => queue.push([v, `${path}.${n}`]))
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (unstorable(k)) fields.push({ path, message: `has a key that ${UNSTORABLE}` })
        queue.push([v, `${path}.${k}`])
      }
    }
  }
  return fields
}

/**
 * Merges the modules' resolvers and guards every Query and Mutation field with its
 * action from OPERATIONS, and refuses arguments holding text that cannot be stored.
 * A root field without an OPERATIONS entry or without a resolver stops start-up:
 * nothing is reachable by default.
 */
export function buildResolvers (sdl: string): IResolvers {
  const schema = buildSchema(sdl)
  // graphql-scalars' scalars, described as the committed schema describes them (what introspection serves).
  const described = (scalar: GraphQLScalarType): Record<string, unknown> =>
    new GraphQLScalarType({ ...scalar.toConfig(), description: schema.getType(scalar.name)?.description }) as unknown as Record<string, unknown>
  const merged: Record<string, Record<string, unknown>> = { JSON: described(JSONResolver), DateTime: described(DateTimeResolver) }
  for (const m of [...graphqlModules.map(m => m.resolvers), loaderResolvers()]) {
    for (const [type, fields] of Object.entries(m)) {
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
        const unfit = unstorableFields(args)
        if (unfit.length > 0) throw badInput(unfit)
        return await resolve(parent, args, ctx, info)
      }) satisfies Resolver
    }
    merged[root.name] = impl
  }
  // A connection's totalCount may be a thunk, counted only when asked. graphql-js calls a
  // function-valued property; the compiled executor (jit below) reads properties as they
  // are, so totalCount gets a resolver.
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.getFields().totalCount === undefined || merged[type.name]?.totalCount !== undefined) continue
    merged[type.name] = { ...merged[type.name], totalCount: async (c: { totalCount: number | (() => Promise<number>) }) => (typeof c.totalCount === 'function' ? await c.totalCount() : c.totalCount) }
  }
  return merged as IResolvers
}

/**
 * The modules' loaders as field resolvers: every call of a field during one request is
 * collected (DataLoader, without its cache) and the loader runs once for all of them —
 * one scoped query per nested field per request, however many parents. Calls are not
 * keyed by their parent's content, so batching costs nothing per parent. A parent read
 * with the field's value already (shared/prefetch.ts) answers without the loader.
 */
function loaderResolvers (): Record<string, Record<string, Resolver>> {
  const resolvers: Record<string, Record<string, Resolver>> = {}
  for (const m of graphqlModules) {
    for (const [type, fields] of Object.entries(m.loaders ?? {})) {
      for (const [field, load] of Object.entries(fields as Record<string, Loader>)) {
        const name = `${type}.${field}`
        resolvers[type] = {
          ...resolvers[type],
          [field]: ((obj, params, ctx) => {
            const ready = prefetched(obj, field, params)
            if (ready !== undefined) return ready
            let batch = ctx.batches.get(name)
            if (batch === undefined) {
              batch = new DataLoader<LoaderQuery, unknown>(async (queries) => await load([...queries], ctx), { cache: false })
              ctx.batches.set(name, batch)
            }
            return batch.load({ obj, params })
          }) satisfies Resolver
        }
      }
    }
  }
  return resolvers
}

export default fp<{ production: boolean }>(async (app, opts) => {
  const sdl = readFileSync(paths.schema, 'utf8')
  await app.register(mercurius, {
    schema: sdl,
    resolvers: buildResolvers(sdl),
    path: '/graphql',
    // A document seen once before runs compiled by graphql-jit: a page of 50 households
    // costs about a third less CPU than interpreted (docs/benchmarks.md).
    jit: 1,
    graphiql: false,
    // Introspection and suggestions only outside production.
    validationRules: [maxAliasesRule, maxDepthRule, ...(opts.production ? [NoSchemaIntrospectionCustomRule] : [])],
    graphql: { parseOptions: { maxTokens: GRAPHQL_LIMITS.tokens } },
    // Errors outside execution (authentication, a malformed request) go to the app's
    // error handler, which answers GraphQL-shaped on this route.
    errorHandler: false,
    context: (req) => ({ principal: req.principal, services: servicesOf(req), batches: new Map() }),
    errorFormatter: (execution: ExecutionResult, ctx: MercuriusContext) => {
      // A statement cancelled by the statement timeout, no connection free, or the database
      // unreachable: retry later (503, Retry-After), as in REST. Nothing of a failed
      // mutation was written: its transaction did not commit.
      const retry = (execution.errors ?? []).flatMap(e => {
        const message = isDatabaseBusy(e.originalError) ? 'The database did not answer in time; retry later' : isDatabaseUnavailable(e.originalError) ? 'The database is unavailable; retry later' : undefined
        return message === undefined ? [] : [{ error: e, message }]
      })
      if (retry.length > 0) {
        ctx.reply.log.warn({ err: retry[0]!.error.originalError }, retry[0]!.message)
        ctx.reply.header('retry-after', RETRY_AFTER_S)
      }
      const errors = variableErrors(execution.errors ?? [], ctx).flatMap(e => {
        const r = retry.find(r => r.error === e)
        return r !== undefined
          ? [{ message: r.message, ...(e.path ? { path: e.path } : {}), extensions: { code: 'INTERNAL', reason: 'SERVICE_UNAVAILABLE' } }]
          : formatGraphQLError(e, ctx.reply.log, opts.production)
      })
      const badRequest = execution.data == null && errors.length > 0 && errors.every(e => e.extensions.code === 'BAD_USER_INPUT' && e.path === undefined)
      return { statusCode: retry.length > 0 ? 503 : badRequest ? 400 : 200, response: { data: execution.data ?? null, errors } }
    }
  })
  // The cost budget needs the variables (page sizes), so it is checked per request, before execution.
  app.decorateRequest('graphqlOperation', null)
  app.graphql.addHook('preExecution', async (schema, document, context, variables) => {
    context.operation = { schema, document, variables: variables ?? {} }
    // Named as the client named it (`anonymous` otherwise): on this request's log lines from here on, its metrics and its trace.
    const req = context.reply.request
    const body = (req.body ?? req.query) as { operationName?: unknown } | undefined
    const ast = getOperationAST(document, typeof body?.operationName === 'string' ? body.operationName : undefined)
    if (ast != null) {
      req.graphqlOperation = { name: ast.name?.value ?? 'anonymous', type: ast.operation }
      bindRequestLog(req, { operation: req.graphqlOperation.name })
      trace.getActiveSpan()?.setAttributes({ 'graphql.operation.name': req.graphqlOperation.name, 'graphql.operation.type': ast.operation })
    }
    checkCost(schema, document, variables)
    // A query changes nothing: it reads from a replica, one that has its user's last write (src/db/replicas.ts).
    if (ast?.operation === 'query' && app.replicas !== null && req.principal !== null) {
      req.readDb = await app.replicas.forRead(req.principal.sub)
      context.services = servicesOf(req)
    }
  })
}, { name: 'graphql', dependencies: ['auth', 'replicas'] })

