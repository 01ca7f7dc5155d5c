/**
 * Citizen identity numbers (GB 11643-1999): 6-digit area code, 8-digit birth date,
 * 3-digit sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check
 * character. The number is personal data, so no message here ever quotes it.
 */

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const
/** Check character for each value of (weighted sum mod 11). */
const CHECK_CHARS = '10X98765432'
const FIRST17_RE = /^\d{17}$/
const ID_RE = /^\d{17}[\dX]$/

/**
 * Province-level codes (GB/T 2260) plus Taiwan 71, Hong Kong 81 and Macao 82. Only the
 * province is checked: county codes are renamed and merged over time while people keep
 * their numbers (陕县 411222 became 陕州区 411203 in 2015).
 */
const PROVINCES = new Set([
  '11', '12', '13', '14', '15',
  '21', '22', '23',
  '31', '32', '33', '34', '35', '36', '37',
  '41', '42', '43', '44', '45', '46',
  '50', '51', '52', '53', '54',
  '61', '62', '63', '64', '65',
  '71', '81', '82'
])

/** MOD 11-2 check character ('0'–'9' or 'X') for the first 17 digits. */
export function nationalIdCheckDigit (first17: string): string {
  if (!FIRST17_RE.test(first17)) throw new RangeError('first17 must be 17 digits')
  let sum = 0
  for (let i = 0; i < 17; i++) sum += WEIGHTS[i]! * Number(first17[i])
  return CHECK_CHARS[sum % 11]!
}

export type NationalIdResult =
  | { ok: true, value: string, birthDate: string, sex: 'MALE' | 'FEMALE' }
  | { ok: false, message: string }

const fail = (message: string): NationalIdResult => ({ ok: false, message })

function isLeapYear (year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

function daysInMonth (year: number, month: number): number {
  return month === 2 ? (isLeapYear(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31
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
 */
export function parseNationalId (input: string, today: Date): NationalIdResult {
  const todayKey = utcDay(today)
  const value = input.trim().replace(/x$/, 'X')
  if (value.length !== 18) return fail('must be 18 characters')
  if (!ID_RE.test(value)) return fail('must be 17 digits followed by a digit or X')
  if (nationalIdCheckDigit(value.slice(0, 17)) !== value[17]) return fail('check digit does not match')
  if (!PROVINCES.has(value.slice(0, 2))) return fail('first two digits are not a province code')
  const year = Number(value.slice(6, 10))
  const month = Number(value.slice(10, 12))
  const day = Number(value.slice(12, 14))
  if (!isRealDate(year, month, day)) return fail('birth date is not a real date')
  if (year < 1900) return fail('birth date is before 1900')
  if (Number(value.slice(6, 14)) > todayKey) return fail('birth date is in the future')
  return {
    ok: true,
    value,
    birthDate: `${value.slice(6, 10)}-${value.slice(10, 12)}-${value.slice(12, 14)}`,
    sex: Number(value[16]) % 2 === 1 ? 'MALE' : 'FEMALE'
  }
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
