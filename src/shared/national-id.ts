/**
 * Citizen identity numbers (GB 11643-1999): 6-digit area code, 8-digit birth date,
 * 3-digit sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check
 * character. The number is personal data, so no message here ever quotes it.
 */

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const
/** Check character for each value of (weighted sum mod 11). */
const CHECK_CHARS = '10X98765432'

/**
 * Province-level codes (GB/T 2260) plus Taiwan 71, Hong Kong 81 and Macao 82. Only the
 * province is checked: county codes are renamed and merged over time while people keep
 * their numbers (陕县 411222 became 陕州区 411203 in 2015).
 */
const PROVINCES = new Set([
  11, 12, 13, 14, 15,
  21, 22, 23,
  31, 32, 33, 34, 35, 36, 37,
  41, 42, 43, 44, 45, 46,
  50, 51, 52, 53, 54,
  61, 62, 63, 64, 65,
  71, 81, 82
])

/** MOD 11-2 check character ('0'–'9' or 'X') for the first 17 digits. */
export function nationalIdCheckDigit (first17: string): string {
  const check = first17.length === 17 ? checkCharCode(first17) : -1
  if (check < 0) throw new RangeError('first17 must be 17 digits')
  return String.fromCharCode(check)
}

/** The code of the check character for the first 17 characters of `s`, or -1 when one of them is not a digit. */
function checkCharCode (s: string): number {
  let sum = 0
  for (let i = 0; i < 17; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    sum += WEIGHTS[i]! * d
  }
  return CHECK_CHARS.charCodeAt(sum % 11)
}

export type NationalIdResult =
  | { ok: true, value: string, birthDate: string, sex: 'MALE' | 'FEMALE' }
  | { ok: false, message: string }

const fail = (message: string): NationalIdResult => ({ ok: false, message })

function isLeapYear (year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

function daysInMonth (year: number, month: number): number {
  return month === 2 ? (isLeapYear(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

function isRealDate (year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)
}

/** `today` as yyyymmdd in UTC, so the result does not depend on the server's zone. */
function utcDay (today: Date): number {
  if (Number.isNaN(today.getTime())) throw new RangeError('today is not a valid date')
  return today.getUTCFullYear() * 10000 + (today.getUTCMonth() + 1) * 100 + today.getUTCDate()
}

/**
 * Validates and normalises an identity number (trimmed, final 'x' upper-cased) and reads
 * the birth date and sex from it. Birth dates after `today` (UTC) or before 1900 fail.
 * One pass over the characters, no regular expression or substring until it is valid: a
 * batch eligibility check validates a thousand at a time (docs/benchmarks.md).
 */
export function parseNationalId (input: string, today: Date): NationalIdResult {
  const todayKey = utcDay(today)
  const trimmed = input.trim()
  if (trimmed.length !== 18) return fail('must be 18 characters')
  const check = checkCharCode(trimmed)
  const lowerX = trimmed.charCodeAt(17) === 0x78
  const last = lowerX ? 0x58 : trimmed.charCodeAt(17)
  if (check < 0 || !((last >= 48 && last <= 57) || last === 0x58)) return fail('must be 17 digits followed by a digit or X')
  if (check !== last) return fail('check digit does not match')
  if (!PROVINCES.has(digitsAt(trimmed, 0, 2))) return fail('first two digits are not a province code')
  const year = digitsAt(trimmed, 6, 4)
  const month = digitsAt(trimmed, 10, 2)
  const day = digitsAt(trimmed, 12, 2)
  if (!isRealDate(year, month, day)) return fail('birth date is not a real date')
  if (year < 1900) return fail('birth date is before 1900')
  if (year * 10000 + month * 100 + day > todayKey) return fail('birth date is in the future')
  return {
    ok: true,
    value: lowerX ? trimmed.slice(0, 17) + 'X' : trimmed,
    birthDate: `${trimmed.slice(6, 10)}-${trimmed.slice(10, 12)}-${trimmed.slice(12, 14)}`,
    sex: (trimmed.charCodeAt(16) - 48) % 2 === 1 ? 'MALE' : 'FEMALE'
  }
}

/** The number written by `length` digits (already checked) from `start`. */
function digitsAt (s: string, start: number, length: number): number {
  let n = 0
  for (let i = start; i < start + length; i++) n = n * 10 + s.charCodeAt(i) - 48
  return n
}

export function isValidNationalId (input: string, today: Date): boolean {
  return parseNationalId(input, today).ok
}

const ISO_DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/

function ymd (date: string, name: string): [number, number, number] {
  const m = ISO_DATE_RE.exec(date)
  const parts: [number, number, number] | null = m === null ? null : [Number(m[1]), Number(m[2]), Number(m[3])]
  if (parts === null || !isRealDate(...parts)) throw new RangeError(`${name} must be a real date YYYY-MM-DD`)
  return parts
}

/**
 * Whole years completed on `on` (both 'YYYY-MM-DD'). Someone born on 29 February turns
 * a year older on 1 March in common years. Negative when `on` is before the birth.
 */
export function ageOn (birthDate: string, on: string): number {
  const [by, bm, bd] = ymd(birthDate, 'birthDate')
  const [oy, om, od] = ymd(on, 'on')
  const beforeBirthday = om < bm || (om === bm && od < bd)
  return oy - by - (beforeBirthday ? 1 : 0)
}
