/** Administrative codes: 2 digits province, 4 city, 6 county, 9 township, 12 village. */
export const ADMIN_LEVELS = ['PROVINCE', 'CITY', 'COUNTY', 'TOWNSHIP', 'VILLAGE'] as const
export type AdminLevel = typeof ADMIN_LEVELS[number]

const LENGTHS: Record<AdminLevel, number> = { PROVINCE: 2, CITY: 4, COUNTY: 6, TOWNSHIP: 9, VILLAGE: 12 }
const BY_LENGTH = new Map<number, AdminLevel>(ADMIN_LEVELS.map(l => [LENGTHS[l], l]))

export const REGION_CODE_PATTERN = '^(\\d{2}|\\d{4}|\\d{6}|\\d{9}|\\d{12})$'
const CODE_RE = new RegExp(REGION_CODE_PATTERN)

export function isRegionCode (code: string): boolean {
  return CODE_RE.test(code)
}

export function levelOf (code: string): AdminLevel {
  const level = BY_LENGTH.get(code.length)
  if (level === undefined || !isRegionCode(code)) throw new Error(`not an administrative code: ${code}`)
  return level
}

export function codeLength (level: AdminLevel): number {
  return LENGTHS[level]
}

export function parentCodeOf (code: string): string | null {
  const i = ADMIN_LEVELS.indexOf(levelOf(code))
  return i === 0 ? null : code.slice(0, LENGTHS[ADMIN_LEVELS[i - 1]!])
}

/** True when `code` lies in the area of `areaCode` (the region itself or below it). */
export function inAreaOf (areaCode: string, code: string): boolean {
  return code.startsWith(areaCode)
}
