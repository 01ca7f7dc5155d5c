import type { IncomeView, MeasureView } from '../record-views.js'
import type { MemberView } from '../members/members-service.js'
import { LABELS, type LabelEnum } from '../../shared/labels.js'
import type { Cell, Table } from '../../shared/spreadsheet.js'
import type { HelperView } from '../people/people-views.js'
import type { HouseholdView } from './households-service.js'

/** A household as a REST document: its own fields and its active members, measures and incomes (latest year first). */
export type HouseholdDocument = Omit<HouseholdView, 'createdAt' | 'updatedAt' | 'closedAt'> & {
  /** The current helper (帮扶责任人), null when none is assigned. */
  helper: Pick<HelperView, 'id' | 'name' | 'unit' | 'phone'> | null
  members: Array<Omit<MemberView, 'createdAt' | 'updatedAt' | 'removedAt' | 'householdId' | 'regionCode'>>
  measures: Array<Omit<MeasureView, 'householdId'>>
  incomes: IncomeView[]
}

/** One line of the register (花名册): a household with one of its active members, or with none when it has none. */
export interface RegisterRow { h: HouseholdDocument, m: HouseholdDocument['members'][number] | null }

export const registerRows = (h: HouseholdDocument): RegisterRow[] => (h.members.length === 0 ? [{ h, m: null }] : h.members.map(m => ({ h, m })))

const label = (e: LabelEnum, value: string | null | undefined): Cell => (value == null ? null : (LABELS[e] as Record<string, string>)[value] ?? value)
const labels = (e: LabelEnum, values: readonly string[]): string => values.map(v => label(e, v)).join('、')
const yesNo = (v: boolean | null | undefined): Cell => (v == null ? null : v ? '是' : '否')
const member = <T>(f: (m: NonNullable<RegisterRow['m']>) => T) => (r: RegisterRow): T | null => (r.m === null ? null : f(r.m))
const latestIncome = (r: RegisterRow): IncomeView | undefined => r.h.incomes[0]

/**
 * The register as a spreadsheet: one row per active member with the household's
 * columns repeated (a household without active members: one row, member columns
 * empty), Chinese headers, enum values by their Chinese labels (`labels()`), booleans
 * 是/否. The same values as the NDJSON export, masked the same way for VIEWER.
 */
export const REGISTER_TABLE: Table<RegisterRow> = {
  sheet: '贫困户花名册',
  columns: [
    ['户编号', r => r.h.householdNo],
    ['区划代码', r => r.h.regionCode],
    ['贫困户状态', r => label('HouseholdStatus', r.h.status)],
    ['贫困户属性', r => label('PovertyAttribute', r.h.attribute)],
    ['主要致贫原因', r => label('PovertyCause', r.h.mainCause)],
    ['其他致贫原因', r => labels('PovertyCause', r.h.otherCauses)],
    ['识别年度', r => r.h.identificationYear],
    ['脱贫年度', r => r.h.exitYear],
    ['返贫年度', r => r.h.returnYear],
    ['住房安全有保障', r => yesNo(r.h.housingSafe)],
    ['饮水安全有保障', r => yesNo(r.h.drinkingWaterSafe)],
    ['不愁吃', r => yesNo(r.h.foodSecure)],
    ['不愁穿', r => yesNo(r.h.clothingSecure)],
    ['联系电话', r => r.h.phone],
    ['开户银行', r => r.h.bankName],
    ['银行账号', r => r.h.bankAccount],
    ['耕地面积(亩)', r => r.h.cultivatedLandMu],
    ['林地面积(亩)', r => r.h.forestLandMu],
    ['退耕还林面积(亩)', r => r.h.returnedFarmlandMu],
    ['帮扶责任人', r => r.h.helper?.name ?? null],
    ['帮扶单位', r => r.h.helper?.unit ?? null],
    ['帮扶责任人电话', r => r.h.helper?.phone ?? null],
    ['销户原因', r => r.h.closeReason],
    ['收入年度', r => latestIncome(r)?.year ?? null],
    ['人均纯收入(元)', r => latestIncome(r)?.perCapitaNet ?? null],
    ['帮扶措施', r => r.h.measures.map(m => `${label('MeasureKind', m.kind) ?? m.kind}(${label('MeasureStatus', m.status) ?? m.status})`).join('、')],
    ['姓名', member(m => m.name)],
    ['证件号码', member(m => m.nationalId)],
    ['性别', member(m => label('Sex', m.sex))],
    ['出生日期', member(m => m.birthDate)],
    ['与户主关系', member(m => label('Relation', m.relation))],
    ['民族', member(m => m.ethnicity)],
    ['文化程度', member(m => m.education)],
    ['健康状况', member(m => (m.healthConditions.length === 0 ? '健康' : labels('HealthCondition', m.healthConditions)))],
    ['残疾等级', member(m => m.disabilityGrade)],
    ['劳动技能', member(m => label('LaborCapacity', m.laborCapacity))],
    ['在校生状况', member(m => label('SchoolingStatus', m.schooling))],
    ['有务工意愿', member(m => yesNo(m.wantsWork))],
    ['务工状况', member(m => label('EmploymentStatus', m.employment))],
    ['务工时间(月)', member(m => m.employmentMonths)],
    ['月均务工收入(元)', member(m => m.monthlyIncome)],
    ['参加城乡居民基本医疗保险', member(m => yesNo(m.medicalInsurance))],
    ['参加大病保险', member(m => yesNo(m.seriousIllnessInsurance))],
    ['参加城乡居民基本养老保险', member(m => yesNo(m.pensionInsurance))],
    ['享受农村低保', member(m => yesNo(m.dibao))],
    ['特困供养', member(m => yesNo(m.extremeSupport))],
    ['死亡日期', member(m => m.deceasedAt)],
    ['户ID', r => r.h.id],
    ['成员ID', member(m => m.id)]
  ]
}
