import { GraphQLError, getNullableType, isListType, Kind, visit, type DocumentNode, type GraphQLSchema, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql'
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity'
import { MAX_PAGE } from '../shared/pagination.js'

/**
 * What one GraphQL request may ask for (OWASP API4, unrestricted resource consumption).
 * Each limit is checked before any resolver runs; a request over one is refused with
 * BAD_USER_INPUT and `extensions.limit` naming it.
 */
export const GRAPHQL_LIMITS = {
  /** Nesting of selections (introspection's own, `__schema` and `__type`, aside: see maxDepthRule). */
  depth: 12,
  /** Aliased fields in one document (aliases multiply work without adding depth). */
  aliases: 30,
  /** Lexical tokens of the document: parsing stops beyond this. */
  tokens: 3000,
  /** Cost budget: every object field costs 1, times the size of each list around it. */
  cost: 25_000,
  /** The size assumed for a list without `first` (members, measures, children …). */
  assumedListSize: 10
} as const

function limitError (limit: keyof typeof GRAPHQL_LIMITS, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', limit } })
}

/** Thrown outside validation: shaped like Mercurius's own refusal of a document (400 with the list). */
function refusal (error: GraphQLError): Error {
  return Object.assign(new Error(error.message), { statusCode: 400, errors: [error] })
}

/** Refuses a document with more than GRAPHQL_LIMITS.aliases aliased fields. */
export const maxAliasesRule: ValidationRule = (context) => {
  let aliases = 0
  return {
    Field (node) {
      if (node.alias !== undefined && ++aliases === GRAPHQL_LIMITS.aliases + 1) {
        context.reportError(limitError('aliases', `The query uses more than ${GRAPHQL_LIMITS.aliases} aliases`))
      }
    }
  }
}

/** The arguments that size a page. */
const PAGE_ARGS = ['first', 'last', 'limit']

/**
 * Refuses an operation whose fields are nested deeper than GRAPHQL_LIMITS.depth (a
 * fragment spread counts as its fields). Introspection (`__schema`, `__type`) is not
 * counted: its types' nesting is the schema's, and the standard introspection query
 * (graphql-js `getIntrospectionQuery()`, what GraphiQL and codegen send) is 15 deep.
 * Introspection is refused in production by its own rule; elsewhere the token limit
 * bounds it like any document.
 */
export const maxDepthRule: ValidationRule = (context) => {
  const fragments = new Map<string, number>()
  const visiting = new Set<string>()
  const depthBelow = (set: SelectionSetNode): number => {
    let max = 0
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        if (!s.name.value.startsWith('__')) max = Math.max(max, 1 + (s.selectionSet !== undefined ? depthBelow(s.selectionSet) : 0))
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        max = Math.max(max, depthBelow(s.selectionSet))
      } else {
        max = Math.max(max, fragmentDepth(context, s.name.value))
      }
    }
    return max
  }
  // Each fragment is measured once (fragments spreading each other cannot multiply the work); a cycle counts 0 here and is refused by graphql-js's NoFragmentCycles.
  const fragmentDepth = (ctx: ValidationContext, name: string): number => {
    const known = fragments.get(name)
    if (known !== undefined) return known
    const fragment = ctx.getFragment(name)
    if (fragment === null || fragment === undefined || visiting.has(name)) return 0
    visiting.add(name)
    const depth = depthBelow(fragment.selectionSet)
    visiting.delete(name)
    fragments.set(name, depth)
    return depth
  }
  return {
    OperationDefinition (node) {
      const depth = depthBelow(node.selectionSet)
      if (depth > GRAPHQL_LIMITS.depth) context.reportError(limitError('depth', `The query's depth, ${depth}, is over the limit of ${GRAPHQL_LIMITS.depth}`))
    }
  }
}

/**
 * Fields whose work grows with the data rather than with what they return, at their
 * fixed cost: re-checking the whole audit log takes the whole budget (one per request,
 * so aliases cannot multiply it); a `totalCount` counts every matching record.
 */
export const FIELD_COSTS: Readonly<Record<string, number>> = {
  verifyAuditChain: GRAPHQL_LIMITS.cost,
  totalCount: 100
}

/**
 * A field costs 1 plus its selections; a list multiplies them by its size: `first`,
 * `last` (or `limit`) where the field takes one, else GRAPHQL_LIMITS.assumedListSize. A
 * connection's `edges` repeat the page its field already counted. FIELD_COSTS overrides both.
 */
const estimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  // Introspection answers from the schema in memory (and is refused in production).
  if (field.name.startsWith('__')) return 0
  const fixed = FIELD_COSTS[field.name]
  if (fixed !== undefined) return fixed
  const page = (PAGE_ARGS.map(name => args[name]).find(v => typeof v === 'number') as number | undefined) ?? null
  const isList = isListType(getNullableType(field.type))
  const size = page !== null ? Math.min(Math.max(page, 0), MAX_PAGE) : isList && field.name !== 'edges' ? GRAPHQL_LIMITS.assumedListSize : 1
  return childComplexity === 0 && page === null && !isList ? 0 : 1 + size * childComplexity
}

/**
 * The variables a document's cost depends on: those given to `first`, `last` or `limit` (the
 * estimator's page sizes) and to directives (`@skip`/`@include` leave fields out).
 */
function costVariables (document: DocumentNode): string[] {
  const names = new Set<string>()
  visit(document, {
    Argument (node) {
      if (node.value.kind === Kind.VARIABLE && PAGE_ARGS.includes(node.name.value)) names.add(node.value.name.value)
    },
    Directive (node) {
      for (const arg of node.arguments ?? []) if (arg.value.kind === Kind.VARIABLE) names.add(arg.value.name.value)
    }
  })
  return [...names].sort()
}

/** Costs computed per parsed document (Mercurius keeps one per query text), by the values of its cost variables. */
const costs = new WeakMap<DocumentNode, { variables: string[], byValues: Map<string, number> }>()
/** Distinct values of a document's cost variables remembered (a client paging with ever new sizes cannot grow the map past this). */
const MAX_COSTS_PER_DOCUMENT = 64

/** The cost of the operation to run; throws the limit's error when over the budget. */
export function checkCost (schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined, operationName?: string): number {
  let known = costs.get(document)
  if (known === undefined) costs.set(document, known = { variables: costVariables(document), byValues: new Map() })
  // A variable left out (its default applies) and one given as null are different keys.
  const key = JSON.stringify([operationName ?? null, ...known.variables.map(name => variables !== undefined && name in variables ? [variables[name]] : [])])
  let cost = known.byValues.get(key)
  if (cost === undefined) {
    cost = getComplexity({ schema, query: document, variables: variables ?? {}, ...(operationName !== undefined ? { operationName } : {}), estimators: [estimator] })
    if (known.byValues.size >= MAX_COSTS_PER_DOCUMENT) known.byValues.clear()
    known.byValues.set(key, cost)
  }
  if (cost > GRAPHQL_LIMITS.cost) throw refusal(limitError('cost', `The query would cost ${cost}, more than the budget of ${GRAPHQL_LIMITS.cost}; ask for fewer items per page or fewer nested lists`))
  return cost
}
