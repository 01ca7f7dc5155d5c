import { sql, type SQL } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import { queryRows, type Db } from '../src/db/index.js'

/** A node of PostgreSQL's plan (EXPLAIN FORMAT JSON); `Actual Loops` with `analyze`. */
export interface PlanNode { 'Node Type': string, 'Relation Name'?: string, 'Index Name'?: string, 'Actual Loops'?: number, Plans?: PlanNode[] }

/**
 * Every node of the plan of a statement, its parameters written in as literals (a plan for
 * these values, as the service's unprepared statements get); `analyze` runs it too.
 */
export async function planNodes (db: Db, statement: SQL, analyze = false): Promise<PlanNode[]> {
  const query = new PgDialect().sqlToQuery(statement)
  const literal = (v: unknown): string => `'${(v instanceof Date ? v.toISOString() : String(v)).replace(/'/g, "''")}'`
  const text = query.sql.replace(/\$(\d+)/g, (_, i: string) => literal(query.params[Number(i) - 1]))
  const [row] = await queryRows<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(db, sql.raw(`EXPLAIN (${analyze ? 'ANALYZE, ' : ''}FORMAT JSON) ${text}`))
  const nodes: PlanNode[] = []
  const walk = (n: PlanNode): void => { nodes.push(n); n.Plans?.forEach(walk) }
  walk(row!['QUERY PLAN'][0]!.Plan)
  return nodes
}
