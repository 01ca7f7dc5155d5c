import type { Test } from 'tap'
import type { Client } from './helper.js'

export interface PagedList {
  /** The query field, e.g. households. */
  field: string
  /** Its other arguments: variable declarations and uses, e.g. ['$f: HouseholdFilter', 'filter: $f']. */
  args?: [string, string]
  variables?: Record<string, unknown>
  /** The node's selection, and how to read its id from it. */
  select: string
  idOf: (node: any) => string
}

/**
 * Reads a Relay connection to its end forward (first/after) and to its start backward
 * (last/before), `size` items a page, checking every page's pageInfo on the way; the two
 * readings must agree with each other and with totalCount. Returns the ids in order.
 */
export async function pageBothWays (t: Test, client: Client, list: PagedList, size: number): Promise<string[]> {
  const [declared, used] = list.args ?? ['', '']
  const doc = `query ($first: Int, $after: String, $last: Int, $before: String${declared === '' ? '' : ', ' + declared}) {
    page: ${list.field}(first: $first, after: $after, last: $last, before: $before${used === '' ? '' : ', ' + used}) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { ${list.select} } } } }`
  const read = async (vars: Record<string, unknown>): Promise<any> => {
    const res = await client.gql(doc, { ...list.variables, ...vars })
    if (res.errors !== undefined) throw new Error(JSON.stringify(res.errors))
    const page = res.data.page
    t.equal(page.pageInfo.startCursor, page.edges[0]?.cursor ?? null, `${list.field}: startCursor is the first edge's`)
    t.equal(page.pageInfo.endCursor, page.edges.at(-1)?.cursor ?? null, `${list.field}: endCursor is the last edge's`)
    t.ok(page.edges.length <= size)
    return page
  }

  const forward: string[] = []
  let total = -1
  for (let after: string | null = null, n = 0; n < 100; n++) {
    const page = await read({ first: size, after })
    total = page.totalCount
    t.equal(page.pageInfo.hasPreviousPage, false, 'paging forward tells hasNextPage only')
    forward.push(...page.edges.map((e: any) => list.idOf(e.node)))
    if (!page.pageInfo.hasNextPage) break
    t.equal(page.edges.length, size, 'a page with more after it is full')
    after = page.pageInfo.endCursor
  }

  const backward: string[] = []
  for (let before: string | null = null, n = 0; n < 100; n++) {
    const page = await read({ last: size, before })
    t.equal(page.pageInfo.hasNextPage, false, 'paging backward tells hasPreviousPage only')
    backward.unshift(...page.edges.map((e: any) => list.idOf(e.node)))
    if (!page.pageInfo.hasPreviousPage) break
    t.equal(page.edges.length, size, 'a page with more before it is full')
    before = page.pageInfo.startCursor
  }

  t.same(backward, forward, `${list.field}: backward and forward agree`)
  t.equal(forward.length, total, `${list.field}: and make up totalCount`)
  t.equal(new Set(forward).size, forward.length, 'no item twice')
  return forward
}
