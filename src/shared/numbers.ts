/** At most `n` decimal places (tolerating binary floating point: 0.29 × 100 is 28.999…). */
export const hasDecimals = (v: number, n: number): boolean => Math.abs(Math.round(v * 10 ** n) - v * 10 ** n) < 1e-6
