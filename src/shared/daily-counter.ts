/**
 * Counts events per key and UTC day, in this process (like the rate limits' counters:
 * with several replicas each counts its own share, and a restart starts afresh). Only
 * today's counts are kept: the first event of a new day forgets the day before.
 */
export class DailyCounter {
  private day = ''
  private readonly counts = new Map<string, number>()

  private today (now: Date): void {
    const day = now.toISOString().slice(0, 10)
    if (day !== this.day) {
      this.day = day
      this.counts.clear()
    }
  }

  /** Events counted for `key` today. */
  count (key: string, now: Date): number {
    this.today(now)
    return this.counts.get(key) ?? 0
  }

  /** Counts one more event for `key` today and returns today's count. */
  add (key: string, now: Date): number {
    const n = this.count(key, now) + 1
    this.counts.set(key, n)
    return n
  }
}
