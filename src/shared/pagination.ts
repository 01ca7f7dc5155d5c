import { badInput } from './errors.js'

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

export interface Connection<T> {
  edges: Array<{ cursor: string, node: T }>
  pageInfo: { hasNextPage: boolean, endCursor: string | null }
  totalCount: number | (() => Promise<number>)
}

/** Builds a Relay connection from `size + 1` fetched rows. */
export function connection<T> (rows: T[], size: number, keyOf: (row: T) => readonly (string | number)[], totalCount: Connection<T>['totalCount']): Connection<T> {
  const page = rows.slice(0, size)
  const edges = page.map(node => ({ cursor: encodeCursor(keyOf(node)), node }))
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > size, endCursor: edges.at(-1)?.cursor ?? null },
    totalCount
  }
}
