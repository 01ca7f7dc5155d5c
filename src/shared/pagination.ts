import { badInput } from './errors.js'
import { isUuid } from './ids.js'

export const DEFAULT_PAGE = 50
export const MAX_PAGE = 200

/** Validates `first`/`limit`: 1 … MAX_PAGE, DEFAULT_PAGE when omitted. */
export function pageSize (value: number | null | undefined, path = 'first'): number {
  if (value === null || value === undefined) return DEFAULT_PAGE
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE) {
    throw badInput([{ path, message: `must be an integer between 1 and ${MAX_PAGE}` }])
  }
  return value
}

/** Opaque, stable cursors: base64url of the keyset position. */
export function encodeCursor (key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

export function decodeCursor<T extends readonly (string | number)[]> (
  cursor: string | null | undefined, shape: { [K in keyof T]: 'string' | 'number' }, path = 'after'
): T | null {
  if (cursor === null || cursor === undefined || cursor === '') return null
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(key) && key.length === shape.length && key.every((v, i) => typeof v === shape[i])) return key as unknown as T
  } catch {}
  throw badInput([{ path, message: 'is not a cursor this service issued' }])
}

/** Relay's paging arguments. */
export interface PageArgs {
  first?: number | null
  after?: string | null
  last?: number | null
  before?: string | null
}

/**
 * A page of a list ordered by id: `first` rows after `afterId`, or (`backward`) the
 * `last` rows before `beforeId`; both bounds may be given. Repositories fetch `size + 1`
 * rows in the page's direction (descending ids when backward) and `connection` turns them
 * around.
 */
export interface IdPage {
  size: number
  backward: boolean
  afterId: string | null
  beforeId: string | null
}

/** The keyset bounds and direction of an IdPage, without its size. */
export type IdRange = Omit<IdPage, 'size'>

/** Forward from `afterId` (from the start when null). */
export const forwardFrom = (afterId: string | null): IdRange => ({ backward: false, afterId, beforeId: null })

/** Validates Relay's arguments of a list ordered by id (its cursors: the id as a keyset position). */
export function idPage (args: PageArgs, paths: Partial<Record<keyof PageArgs, string>> = {}): IdPage {
  const path = (key: keyof PageArgs): string => paths[key] ?? key
  if (args.first != null && args.last != null) throw badInput([{ path: path('last'), message: 'cannot be combined with first' }])
  const backward = args.last != null
  return {
    size: backward ? pageSize(args.last, path('last')) : pageSize(args.first, path('first')),
    backward,
    afterId: idCursor(args.after, path('after')),
    beforeId: idCursor(args.before, path('before'))
  }
}

function idCursor (cursor: string | null | undefined, path: string): string | null {
  const key = decodeCursor<[string]>(cursor, ['string'], path)
  if (key !== null && !isUuid(key[0])) throw badInput([{ path, message: 'is not a cursor this service issued' }])
  return key?.[0] ?? null
}

export interface PageInfo {
  hasNextPage: boolean
  hasPreviousPage: boolean
  startCursor: string | null
  endCursor: string | null
}

export interface Connection<T> {
  edges: Array<{ cursor: string, node: T }>
  pageInfo: PageInfo
  totalCount: number | (() => Promise<number>)
}

/**
 * Builds a Relay connection from `size + 1` rows fetched in the page's direction (a bare
 * size: forward). As in graphql-relay-js, the page answers for its own direction only:
 * hasNextPage when paging forward, hasPreviousPage when paging backward; the other is false.
 */
export function connection<T> (rows: T[], page: number | Pick<IdPage, 'size' | 'backward'>, keyOf: (row: T) => readonly (string | number)[], totalCount: Connection<T>['totalCount']): Connection<T> {
  const { size, backward } = typeof page === 'number' ? { size: page, backward: false } : page
  const more = rows.length > size
  const nodes = rows.slice(0, size)
  if (backward) nodes.reverse()
  const edges = nodes.map(node => ({ cursor: encodeCursor(keyOf(node)), node }))
  return {
    edges,
    pageInfo: {
      hasNextPage: !backward && more,
      hasPreviousPage: backward && more,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null
    },
    totalCount
  }
}
