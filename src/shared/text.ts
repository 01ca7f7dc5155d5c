import type { FieldError } from './errors.js'

/** C0 and C1 control characters (tab and newline included), and the line and paragraph separators. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u
/**
 * Bidirectional formatting characters — embeddings, overrides, isolates and marks — which
 * make a name display as something else than it is ("Trojan Source", CVE-2021-42574).
 */
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u
/** What shows nothing on its own: white space, format characters (zero-width, BOM, soft hyphen), combining marks, fillers. */
const INVISIBLE = /[\p{White_Space}\p{Cf}\p{Mn}\p{Me}\u034F\u115F\u1160\u2800\u3164\uFFA0]/gu

/**
 * Why a name (of a person, a bank, a unit, a source of funds) cannot be stored, or null.
 * An empty or blank value is left to the field's own rule (required, or cleared).
 */
export function nameProblem (value: string): string | null {
  if (CONTROL.test(value)) return 'must not contain control characters'
  if (BIDI.test(value)) return 'must not contain text-direction controls'
  if (value.trim() !== '' && value.replace(INVISIBLE, '') === '') return 'must contain a visible character'
  return null
}

/** Pushes the field's problem (see `nameProblem`) when it has one; null and undefined pass. */
export function checkName (value: string | null | undefined, path: string, fields: FieldError[]): void {
  if (typeof value !== 'string') return
  const problem = nameProblem(value)
  if (problem !== null) fields.push({ path, message: problem })
}

/** Control characters but tab and line breaks (a note may have several lines). */
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u2028\u2029]/u

/**
 * Why a free text (a note of several lines) cannot be stored, or null: as `nameProblem`,
 * except that tabs and line breaks are allowed, and at most `max` characters.
 */
export function textProblem (value: string, max: number): string | null {
  if (Array.from(value).length > max) return `must be at most ${max} characters`
  if (CONTROL_IN_TEXT.test(value)) return 'must not contain control characters'
  if (BIDI.test(value)) return 'must not contain text-direction controls'
  if (value.trim() !== '' && value.replace(INVISIBLE, '') === '') return 'must contain a visible character'
  return null
}

/** Pushes the free text's problem (see `textProblem`) when it has one; null and undefined pass. */
export function checkText (value: string | null | undefined, path: string, max: number, fields: FieldError[]): void {
  if (typeof value !== 'string') return
  const problem = textProblem(value, max)
  if (problem !== null) fields.push({ path, message: problem })
}

const PHONE = /^[0-9+\- ]{5,20}$/

/** Pushes a problem unless the value is a phone number (5–20 digits, `+`, `-` or spaces); null and undefined pass. */
export function checkPhone (value: string | null | undefined, path: string, fields: FieldError[]): void {
  if (typeof value === 'string' && !PHONE.test(value.trim())) fields.push({ path, message: 'must be a phone number (5–20 digits)' })
}
