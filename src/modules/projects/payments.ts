import type { DbOrTx } from '../../db/index.js'
import { isIsoDate } from '../../shared/dates.js'
import { AppError, badInput, conflict, notFound, type FieldError } from '../../shared/errors.js'
import { isUuid } from '../../shared/ids.js'
import { maskBankAccount } from '../../shared/masking.js'
import { hasDecimals } from '../../shared/numbers.js'
import { isMasked } from '../../shared/policy.js'
import type { Principal } from '../../shared/principal.js'
import type { Sealer } from '../../shared/sealing.js'
import { checkName } from '../../shared/text.js'
import { recordAudit } from '../audit/audit-service.js'
import * as members from '../members/members-repository.js'
import * as repo from './projects-repository.js'

/**
 * The one place of the payment rule (直接拨付到户, contract §10). Every way a payment is
 * recorded — `recordPayment` in GraphQL and REST, an import of the finance department's
 * disbursement file — calls `applyPayment` inside its own transaction.
 */

/** Largest amount numeric(14,2) holds. */
export const MAX_YUAN = 999_999_999_999.99
/** A bank account number as households store it: 12–30 digits (spaces ignored). */
export const ACCOUNT = /^\d{12,30}$/
/** Statuses in which a project may pay. */
export const PAYING_STATUSES: ReadonlySet<string> = new Set(['APPROVED', 'IN_PROGRESS'])

/** Pushes a problem unless `value` is yuan with at most 2 decimals, above 0. */
export function checkYuan (value: unknown, path: string, fields: FieldError[]): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) fields.push({ path, message: 'must be a number of yuan' })
  else if (value <= 0) fields.push({ path, message: 'must be more than 0' })
  else if (value > MAX_YUAN) fields.push({ path, message: `must be at most ${MAX_YUAN}` })
  else if (!hasDecimals(value, 2)) fields.push({ path, message: 'must have at most 2 decimals (yuan and fen)' })
}

/** Integer fen of a yuan amount with at most 2 decimals (exact sums and comparisons). */
export const fen = (yuan: number): number => Math.round(yuan * 100)

export interface PaymentRequest {
  projectId: string
  householdId: string
  memberId?: string | null
  amount: number
  date: string
  /** The receiving account number (12–30 digits; spaces ignored). */
  account?: string | null
  /** The payer's own reference (a voucher number, an import's job and line); a payment with a reference already recorded for the project is DUPLICATE. */
  reference?: string | null
}

/** Why a payment was refused (an import's report groups them). */
export type PaymentRefusal = 'INVALID' | 'PROJECT_NOT_FOUND' | 'NOT_PAYING' | 'NOT_BENEFICIARY' | 'NOT_A_MEMBER' | 'ABOVE_ALLOCATION' | 'DUPLICATE'

export type PaymentOutcome =
  | { ok: true, payment: repo.PaymentRow, project: repo.ProjectRow }
  | { ok: false, reason: PaymentRefusal, error: AppError }

export interface PaymentContext {
  /** Whose area the project must be in; also the audit entry's actor. */
  principal: Principal
  sealer: Sealer
  at: Date
  /** The audit entry's source (an import job), if any. */
  source?: string | null
}

/** Paths of the request's fields in the caller's input, for errors (GraphQL: `input.amount`; an import: its columns). */
export interface PaymentPaths { projectId: string, householdId: string, memberId: string, amount: string, date: string, account: string, reference: string }

export const inputPaths = (prefix: string): PaymentPaths => ({
  projectId: 'projectId',
  householdId: `${prefix}.householdId`,
  memberId: `${prefix}.memberId`,
  amount: `${prefix}.amount`,
  date: `${prefix}.date`,
  account: `${prefix}.account`,
  reference: `${prefix}.reference`
})

/** The request's own shape (no database): every bad field named. */
export function checkPaymentRequest (req: PaymentRequest, paths: PaymentPaths): FieldError[] {
  const fields: FieldError[] = []
  if (!isUuid(req.householdId)) fields.push({ path: paths.householdId, message: 'is not a household id' })
  if (req.memberId != null && !isUuid(req.memberId)) fields.push({ path: paths.memberId, message: 'is not a member id' })
  checkYuan(req.amount, paths.amount, fields)
  if (!isIsoDate(req.date)) fields.push({ path: paths.date, message: 'must be a date YYYY-MM-DD' })
  if (req.account != null && !ACCOUNT.test(req.account.replace(/\s/g, ''))) fields.push({ path: paths.account, message: 'must be 12–30 digits' })
  if (req.reference != null) {
    if (req.reference.trim() === '' || req.reference.length > 100) fields.push({ path: paths.reference, message: 'must be 1–100 characters' })
    else checkName(req.reference, paths.reference, fields)
  }
  return fields
}

const refuse = (reason: PaymentRefusal, error: AppError): PaymentOutcome => ({ ok: false, reason, error })

/**
 * Records one payment inside `tx` (which the caller owns and commits), or says why not
 * without writing anything and without aborting `tx` (an import may go on with its next
 * row). The project's row is locked first, so concurrent payments of one project run one
 * after another and `paid` never exceeds `allocated`; the database's check constraint
 * stands behind it. The payment and its audit entry are written in `tx`.
 */
export async function applyPayment (tx: DbOrTx, ctx: PaymentContext, req: PaymentRequest, paths: PaymentPaths = inputPaths('input')): Promise<PaymentOutcome> {
  const invalid = checkPaymentRequest(req, paths)
  if (invalid.length > 0) return refuse('INVALID', badInput(invalid))
  const project = isUuid(req.projectId) ? await repo.lock(tx, ctx.principal, req.projectId) : null
  if (project === null) return refuse('PROJECT_NOT_FOUND', notFound('Project'))
  if (!PAYING_STATUSES.has(project.status)) return refuse('NOT_PAYING', conflict(`A project pays only once APPROVED or IN_PROGRESS (this one is ${project.status})`))
  const beneficiary = await repo.findBeneficiary(tx, project.id, req.householdId)
  if (beneficiary === null) return refuse('NOT_BENEFICIARY', badInput([{ path: paths.householdId, message: 'is not a beneficiary of the project' }]))
  if (req.memberId != null) {
    const [member] = await members.findByIds(tx, ctx.principal, [req.memberId])
    if (member?.householdId !== req.householdId || !member.active) return refuse('NOT_A_MEMBER', badInput([{ path: paths.memberId, message: 'is not a member of this household' }]))
  }
  const reference = req.reference?.trim() ?? null
  if (reference !== null && await repo.findPaymentByReference(tx, project.id, reference) !== null) {
    return refuse('DUPLICATE', conflict(`A payment with reference ${reference} is already recorded for the project`))
  }
  if (fen(project.paid) + fen(req.amount) > fen(project.allocated)) {
    const left = (fen(project.allocated) - fen(project.paid)) / 100
    return refuse('ABOVE_ALLOCATION', badInput([{ path: paths.amount, message: `would make paid exceed allocated (${left.toFixed(2)} yuan left of ${project.allocated.toFixed(2)})` }]))
  }
  const [household] = await repo.households(tx, ctx.principal, [req.householdId])
  if (household === undefined) return refuse('NOT_BENEFICIARY', badInput([{ path: paths.householdId, message: 'is not a beneficiary of the project' }]))
  const account = req.account?.replace(/\s/g, '') ?? null
  const payment = await repo.insertPayment(tx, {
    projectId: project.id,
    regionCode: project.regionCode,
    householdId: req.householdId,
    householdRegionCode: household.regionCode,
    memberId: req.memberId ?? null,
    amount: req.amount,
    date: req.date,
    accountSealed: account === null ? null : ctx.sealer.seal(account),
    reference,
    createdAt: ctx.at
  })
  const updated = await repo.addToSum(tx, project.id, 'paid', req.amount, ctx.at)
  await recordAudit(tx, ctx.principal, ctx.at, {
    action: 'project.pay',
    entity: 'Payment',
    entityId: payment.id,
    regionCode: project.regionCode,
    source: ctx.source ?? null,
    after: { ...paymentAudit(payment, account), projectPaid: updated.paid }
  })
  return { ok: true, payment, project: updated }
}

/** A payment as the audit trail keeps it: the account masked (its last 4 digits), never in full. */
export function paymentAudit (row: repo.PaymentRow, account: string | null): Record<string, unknown> {
  const { accountSealed: _a, createdAt: _c, ...rest } = row
  return { ...rest, account: account === null ? null : maskBankAccount(account) }
}

export interface PaymentView {
  id: string
  projectId: string
  householdId: string
  memberId: string | null
  amount: number
  date: string
  account: string | null
  reference: string | null
}

/** A payment as a reader sees it: the account opened, and masked for VIEWER. */
export function paymentView (row: repo.PaymentRow, p: Principal, sealer: Sealer): PaymentView {
  const account = row.accountSealed === null ? null : sealer.open(row.accountSealed)
  return {
    id: row.id,
    projectId: row.projectId,
    householdId: row.householdId,
    memberId: row.memberId,
    amount: row.amount,
    date: row.date,
    account: account !== null && isMasked(p) ? maskBankAccount(account) : account,
    reference: row.reference
  }
}
