const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** A real calendar date written YYYY-MM-DD, year 0001 or later (no Date parsing: it shifts years below 100 and rolls over days). */
export function isIsoDate (value: unknown): value is string {
  if (typeof value !== 'string') return false
  const m = DATE_RE.exec(value)
  if (m === null) return false
  const y = Number(m[1])
  const mo = Number(m[2])
  const d = Number(m[3])
  if (y < 1 || mo < 1 || mo > 12 || d < 1) return false // there is no year 0 (PostgreSQL refuses it)
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
  return d <= (mo === 2 && leap ? 29 : DAYS[mo - 1]!)
}

/** The UTC calendar day of an instant, YYYY-MM-DD. */
export const isoDay = (d: Date): string => d.toISOString().slice(0, 10)
