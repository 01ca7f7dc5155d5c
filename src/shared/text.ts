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
