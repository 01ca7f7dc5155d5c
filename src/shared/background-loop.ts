import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'

/**
 * A background worker's loop (import jobs, the audit sequencer): started once the app is
 * ready, woken early when there is work, stopped before the app closes.
 */
export abstract class BackgroundLoop {
  protected stopped = true
  protected loop: Promise<void> = Promise.resolve()
  private wakeUp: (() => void) | null = null

  start (): void {
    if (!this.stopped) return
    this.stopped = false
    this.loop = this.run()
  }

  /** Look now rather than at the next poll. */
  wake (): void {
    this.wakeUp?.()
  }

  /** Stops after the round in flight: true once it ended, false when it did not within `waitMs`. */
  protected async halt (waitMs: number): Promise<boolean> {
    this.stopped = true
    this.wake()
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<false>(resolve => { timer = setTimeout(() => { resolve(false) }, waitMs) })
    const ended = await Promise.race([this.loop.then(() => true as const), late])
    clearTimeout(timer)
    return ended
  }

  /** Sleeps `ms`, or less when woken or when `until` settles. */
  protected async pause (ms: number, until?: Promise<unknown>): Promise<void> {
    const ac = new AbortController()
    this.wakeUp = () => { ac.abort() }
    await Promise.race([sleep(ms, undefined, { signal: ac.signal }).catch(() => {}), ...(until !== undefined ? [until] : [])])
    this.wakeUp = null
  }

  protected abstract run (): Promise<void>
}

/**
 * Rows a background job handles between two turns of the event loop. A batch of an import
 * (1,000 rows parsed, validated, hashed, compared, serialised) done in one go held the
 * loop for tens of milliseconds, and every request arriving meanwhile waited that long:
 * a clerk's write p99 tripled while an import ran (docs/benchmarks.md).
 */
export const ROWS_PER_TURN = 100

/** Lets waiting requests (their I/O callbacks) run before the job goes on. */
export async function yieldToRequests (): Promise<void> {
  await nextTurn()
}
