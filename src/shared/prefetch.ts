import { getArgumentValues } from 'graphql/execution/values.js'
import { getNamedType, isObjectType, Kind, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql'

/** A nested field read together with its record: its arguments, and the fields asked of its objects (all when absent). */
export interface AskedField { args: Record<string, unknown>, fields?: readonly string[] }
/** Nested fields read together with their records, e.g. `{ members: { args: { includeRemoved: false }, fields: ['id', 'name'] } }`. */
export type Asked = Record<string, AskedField>

const PREFETCHED = Symbol('prefetched')
type Carrier = { [PREFETCHED]?: Array<{ field: string, args: Record<string, unknown>, value: unknown }> }

const given = (args: Record<string, unknown>): string[] => Object.keys(args).filter(k => args[k] !== undefined)

/** The same arguments (in any order; one left undefined is absent): values compared as they are, or as JSON when they are lists or input objects. */
function sameArgs (a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = given(a)
  if (keys.length !== given(b).length) return false
  for (const k of keys) {
    const x = a[k]
    const y = b[k]
    if (x !== y && (typeof x !== 'object' || typeof y !== 'object' || JSON.stringify(x) !== JSON.stringify(y))) return false
  }
  return true
}

/** Keeps on `record` the value of its field `field` as read with `args`. */
export function attach (record: object, field: string, args: Record<string, unknown>, value: unknown): void {
  const carrier = record as Carrier
  carrier[PREFETCHED] ??= []
  carrier[PREFETCHED].push({ field, args, value })
}

/** The value of the record's field read with these arguments, if it was read with the record; otherwise undefined. */
export function prefetched (record: unknown, field: string, args: Record<string, unknown>): unknown {
  const kept = (record as Carrier | null)?.[PREFETCHED]
  return kept?.find(k => k.field === field && sameArgs(k.args, args))?.value
}

/** The fields (of any alias, fragment or inline fragment) directly under `nodes`. */
function fieldsUnder (nodes: readonly FieldNode[], info: GraphQLResolveInfo): FieldNode[] {
  const out: FieldNode[] = []
  const walk = (set: SelectionSetNode | undefined): void => {
    for (const s of set?.selections ?? []) {
      if (s.kind === Kind.FIELD) out.push(s)
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet)
      else walk(info.fragments[s.name.value]?.selectionSet)
    }
  }
  for (const n of nodes) walk(n.selectionSet)
  return out
}

/** What a request asks of records: the names of their own fields (all when absent), and the nested fields read together with them. */
export interface Selection { fields?: readonly string[], nested: Asked }

/**
 * What the request asks of the objects at `path` below the current field (e.g.
 * `['edges', 'node']` of a connection, `[]` of the field's own object): the names of
 * their fields (sorted), and which of `nested` it asks, with their arguments as the
 * resolvers will get them and the names of the fields asked of them. A nested field
 * asked twice with different arguments (two aliases) is left out: it is then read by its
 * own resolver.
 */
export function selectionIn (info: GraphQLResolveInfo, path: readonly string[], nested: readonly string[]): Selection {
  let nodes: readonly FieldNode[] = info.fieldNodes
  let type = getNamedType(info.returnType)
  for (const name of path) {
    if (!isObjectType(type)) return { nested: {} }
    nodes = fieldsUnder(nodes, info).filter(n => n.name.value === name)
    type = getNamedType(type.getFields()[name]!.type)
  }
  if (!isObjectType(type)) return { nested: {} }
  const fields = fieldsUnder(nodes, info)
  const found = new Map<string, { args: Record<string, unknown>, nodes: FieldNode[] } | null>()
  for (const node of fields) {
    const name = node.name.value
    if (!nested.includes(name)) continue
    const args = getArgumentValues(type.getFields()[name]!, node, info.variableValues)
    const before = found.get(name)
    if (before === undefined) found.set(name, { args, nodes: [node] })
    else if (before !== null && sameArgs(before.args, args)) before.nodes.push(node)
    else found.set(name, null)
  }
  const asked: Asked = {}
  for (const [name, f] of found) {
    if (f !== null) asked[name] = { args: f.args, fields: namesOf(fieldsUnder(f.nodes, info)) }
  }
  return { fields: namesOf(fields), nested: asked }
}

const namesOf = (nodes: readonly FieldNode[]): string[] => [...new Set(nodes.map(n => n.name.value))].sort()
