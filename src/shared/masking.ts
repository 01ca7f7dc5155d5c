/**
 * Masking for the VIEWER role (contract §3), used by REST, GraphQL and exports alike.
 * Every function is total: any string in, a string out (of as many characters, but the
 * birth date's year), and a short or odd-shaped value is masked more, never less, than
 * the rule for a normal one.
 */

/**
 * Keeps `head` leading and `tail` trailing characters when the value has at least
 * `min` (> head + tail) characters, else masks all. Counts code points, so a
 * surrogate pair is never split into a revealed half and a masked half.
 */
function keepEnds (value: string, head: number, tail: number, min: number): string {
  const chars = Array.from(value)
  const n = chars.length
  if (n < min) return '*'.repeat(n)
  return chars.map((c, i) => (i < head || i >= n - tail ? c : '*')).join('')
}

/** `411224********123X`: area code and last 4 kept; other lengths kept likewise from 14 up. */
export function maskNationalId (id: string): string {
  return keepEnds(id, 6, 4, 14)
}

/** `138****5678`: first 3 and last 4 kept from 8 characters up. */
export function maskPhone (phone: string): string {
  return keepEnds(phone, 3, 4, 8)
}

/** `***************3445`: last 4 kept from 5 characters up. */
export function maskBankAccount (account: string): string {
  return keepEnds(account, 0, 4, 5)
}

/**
 * `1968`: the year only. The 8 digits the masked ID hides are the birth date, so a VIEWER
 * who saw the whole date beside the masked ID would read the ID in full (contract §3).
 * Anything but a `YYYY-MM-DD` date is masked whole.
 */
export function maskBirthDate (date: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(date) ? date.slice(0, 4) : '*'.repeat(date.length)
}

export const masking = { nationalId: maskNationalId, phone: maskPhone, bankAccount: maskBankAccount, birthDate: maskBirthDate }
