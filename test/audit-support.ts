/** Checks of the audit log on a PostgreSQL database, shared by the multi-process tests. */
import { setTimeout as sleep } from 'node:timers/promises'
import type pg from 'pg'
import type { Test } from 'tap'

/** Entries committed but not yet given a position. */
export async function pending (client: pg.Client): Promise<number> {
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.entry_id = e.id)`)
  return rows[0].n
}

/** Waits until every committed entry has its position. */
export async function allSequenced (client: pg.Client, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (await pending(client) > 0) {
    if (Date.now() > deadline) throw new Error(`${await pending(client)} entries still pending`)
    await sleep(100)
  }
}

/** Every entry once, positions 1..n, each transaction's entries in insert order. */
export async function wellFormed (t: Test, client: pg.Client): Promise<void> {
  const { rows: [c] } = await client.query(`SELECT (SELECT count(*)::int FROM audit_events) AS entries, count(*)::int AS positions,
    count(DISTINCT entry_id)::int AS distinct_entries, coalesce(min(seq), 1)::int AS first, coalesce(max(seq), 0)::int AS last FROM audit_log`)
  t.equal(c.positions, c.entries, `every entry has a position (${c.entries})`)
  t.equal(c.distinct_entries, c.positions, 'no entry has two')
  t.same([c.first, c.last], [1, c.positions], 'positions 1..n with no gap')
  const { rows: [o] } = await client.query(`SELECT count(*)::int AS n FROM (
      SELECT e.txid, l.seq, lag(l.seq) OVER (PARTITION BY e.txid ORDER BY e.id) AS previous FROM audit_log l JOIN audit_events e ON e.id = l.entry_id) x
    WHERE previous > seq`)
  t.equal(o.n, 0, 'within each transaction, positions follow insert order')
}
