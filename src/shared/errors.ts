/**
 * The one error set of the service (contract §4). Each code maps to a GraphQL
 * `extensions.code` and to an HTTP status for REST problem+json bodies.
 */
export const ERROR_STATUS = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BAD_USER_INPUT: 400,
  CONFLICT: 409,
  INTERNAL: 500
} as const
export type ErrorCode = keyof typeof ERROR_STATUS

export interface FieldError { path: string, message: string }

export class AppError extends Error {
  readonly status: number
  /** `status` overrides the code's HTTP status where REST says more (413 for bad input that is too large). */
  constructor (readonly code: ErrorCode, message: string, readonly fields: FieldError[] = [], status?: number) {
    super(message)
    this.name = 'AppError'
    this.status = status ?? ERROR_STATUS[code]
  }
}

export const unauthenticated = (message = 'Authentication required'): AppError => new AppError('UNAUTHENTICATED', message)
export const forbidden = (message = 'Not allowed for this user'): AppError => new AppError('FORBIDDEN', message)
export const notFound = (what: string): AppError => new AppError('NOT_FOUND', `${what} not found`)
export const conflict = (message: string): AppError => new AppError('CONFLICT', message)
export const badInput = (fields: FieldError[], message?: string): AppError =>
  new AppError('BAD_USER_INPUT', message ?? fields.map(f => `${f.path}: ${f.message}`).join('; '), fields)

export function isAppError (err: unknown): err is AppError {
  return err instanceof AppError
}
