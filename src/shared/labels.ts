/**
 * Chinese display labels for every enum value of the schema (the contract's §5 and the
 * project's own enums) and for the measure kinds, in one table so that front ends, exports and tests share one
 * source. Terms follow the national poverty registration system (扶贫开发建档立卡)
 * and the city's plan where such a term exists. The key order is the schema's
 * (the contract's) order, and the value lists below are derived from it.
 */
export const LABELS = {
  AdminLevel: { PROVINCE: '省', CITY: '市', COUNTY: '县(市、区)', TOWNSHIP: '乡(镇、街道)', VILLAGE: '村(社区)' },
  HouseholdStatus: { POOR: '未脱贫', EXITED: '已脱贫', RETURNED: '返贫', CLOSED: '销户' },
  PovertyAttribute: { GENERAL: '一般贫困户', DIBAO: '低保贫困户', EXTREME_SUPPORT: '特困供养贫困户' },
  PovertyCause: {
    ILLNESS: '因病',
    DISABILITY: '因残',
    EDUCATION: '因学',
    DISASTER: '因灾',
    LACK_OF_LAND: '缺土地',
    LACK_OF_WATER: '缺水',
    LACK_OF_SKILLS: '缺技术',
    LACK_OF_LABOR: '缺劳力',
    LACK_OF_FUNDS: '缺资金',
    POOR_TRANSPORT: '交通条件落后',
    LACK_OF_MOTIVATION: '自身发展动力不足',
    OTHER: '其他'
  },
  Relation: {
    HEAD: '户主',
    SPOUSE: '配偶',
    CHILD: '子女',
    CHILD_IN_LAW: '儿媳或女婿',
    GRANDCHILD: '孙子女或外孙子女',
    PARENT: '父母',
    GRANDPARENT: '祖父母或外祖父母',
    SIBLING: '兄弟姐妹',
    OTHER: '其他'
  },
  Sex: { MALE: '男', FEMALE: '女' },
  HealthCondition: { CHRONIC_ILLNESS: '长期慢性病', SERIOUS_ILLNESS: '患有大病', DISABLED: '残疾' },
  LaborCapacity: { SKILLED: '技能劳动力', ORDINARY: '普通劳动力', WEAK: '弱劳动力或半劳动力', LOST: '丧失劳动力', NONE: '无劳动力' },
  SchoolingStatus: {
    NOT_IN_SCHOOL: '非在校生',
    PRESCHOOL: '学前教育',
    PRIMARY: '小学',
    JUNIOR_HIGH: '初中',
    SENIOR_HIGH: '高中',
    SECONDARY_VOCATIONAL: '中职',
    HIGHER_EDUCATION: '高等教育',
    DROPPED_OUT: '失学辍学'
  },
  EmploymentStatus: { LOCAL: '本地务工', MIGRANT: '外出务工', PUBLIC_WELFARE_POST: '公益岗位', SELF_EMPLOYED: '自主创业', UNEMPLOYED: '未就业' },
  MeasureCategory: {
    INDUSTRY: '产业扶贫',
    EMPLOYMENT: '就业扶贫',
    RELOCATION: '易地扶贫搬迁',
    FINANCE: '金融扶贫',
    ECOLOGICAL: '生态扶贫',
    EDUCATION: '教育扶贫',
    HEALTH: '健康扶贫',
    HOUSING: '危房改造',
    SOCIAL_SECURITY: '社会保障兜底'
  },
  MeasureStatus: { PLANNED: '计划', ACTIVE: '实施中', COMPLETED: '已完成', CANCELLED: '已取消' },
  ExitReviewStatus: { PROPOSED: '拟退出', VERIFIED: '已核实公示', APPROVED: '已批准退出', REJECTED: '未通过' },
  Role: { VIEWER: '查询用户', OPERATOR: '信息录入员', REVIEWER: '审核员', ADMIN: '管理员', AUDITOR: '审计监督员', EXCHANGE: '部门数据交换' },
  MemberRemovalReason: { DECEASED: '死亡', MARRIED_OUT: '婚出', MOVED: '迁出', WRONGLY_REGISTERED: '错误录入' },
  HouseholdCloseReason: { WRONGLY_IDENTIFIED: '识别不准', ALL_DECEASED: '家庭成员全部死亡', MOVED_AWAY: '迁出' },
  ProjectStatus: { PLANNED: '入库待批', APPROVED: '已批复', IN_PROGRESS: '实施中', COMPLETED: '已完工', CANCELLED: '已取消' },
  FundSource: { CENTRAL: '中央财政专项扶贫资金', PROVINCE: '省级财政专项扶贫资金', CITY: '市级财政专项扶贫资金', COUNTY: '县级财政专项扶贫资金', INTEGRATED: '统筹整合涉农资金', OTHER: '其他资金' },
  ExitReviewAction: { PROPOSE: '村提名', VERIFY: '乡镇审核', OBJECT: '异议', APPROVE: '县审定', REJECT: '不予退出' },
  TargetIndicator: {
    PERSONS_EXITED: '脱贫人口',
    VILLAGES_EXITED: '贫困村出列',
    COUNTIES_EXITED: '贫困县摘帽',
    PERSONS_RELOCATED: '易地扶贫搬迁人口',
    FOREST_RANGER_POSTS: '生态护林员',
    INDUSTRY_COVERAGE_RATE: '产业扶贫落实到位率',
    INDUSTRY_STACKING_DEGREE: '产业扶贫叠加度',
    EMPLOYMENT_RATE: '就业率',
    MEDICAL_INSURANCE_RATE: '基本医疗保险参保率'
  },
  WorkItemStatus: { OPEN: '待处理', RESOLVED: '已处理' },
  WorkItemDisposition: { CONFIRMED_FIXED: '核实并已更正', FALSE_MATCH: '误匹配', NEEDS_VISIT: '需入户核实' },
  WorkTeamRole: { FIRST_SECRETARY: '第一书记', TEAM_LEADER: '工作队长', MEMBER: '工作队员' },
  /**
   * Not a GraphQL enum (`Measure.kind` is a String) but a closed list per category,
   * see measure-details.ts. `other` is shared by several categories.
   */
  MeasureKind: {
    specialty_farming: '特色种植',
    livestock: '畜牧养殖',
    solar: '光伏扶贫',
    e_commerce: '电商扶贫',
    rural_tourism: '乡村旅游',
    processing: '特色加工',
    asset_income_share: '资产收益扶贫',
    transfer_employment: '转移就业',
    public_welfare_post: '公益岗位',
    workshop: '扶贫车间',
    skills_training: '技能培训',
    relocation: '易地扶贫搬迁',
    microcredit: '扶贫小额信贷',
    forest_ranger: '生态护林员',
    returned_farmland: '退耕还林',
    public_welfare_forest: '公益林生态补偿',
    tuition_waiver: '学费减免',
    living_allowance: '生活费补助',
    rain_dew_plan: '雨露计划',
    student_loan: '生源地信用助学贷款',
    basic_insurance_subsidy: '基本医疗保险参保资助',
    serious_illness_insurance: '大病保险',
    family_doctor_contract: '家庭医生签约服务',
    medical_assistance: '医疗救助',
    chronic_disease_card: '门诊慢性病卡',
    dangerous_house_renovation: '危房改造',
    dibao: '农村低保',
    extreme_support: '特困人员救助供养',
    pension_subsidy: '城乡居民养老保险代缴',
    temporary_assistance: '临时救助',
    other: '其他'
  }
} as const

export type LabelEnum = keyof typeof LABELS

export type HouseholdStatus = keyof typeof LABELS.HouseholdStatus
export type PovertyAttribute = keyof typeof LABELS.PovertyAttribute
export type PovertyCause = keyof typeof LABELS.PovertyCause
export type Relation = keyof typeof LABELS.Relation
export type Sex = keyof typeof LABELS.Sex
export type HealthCondition = keyof typeof LABELS.HealthCondition
export type LaborCapacity = keyof typeof LABELS.LaborCapacity
export type SchoolingStatus = keyof typeof LABELS.SchoolingStatus
export type EmploymentStatus = keyof typeof LABELS.EmploymentStatus
export type MeasureCategory = keyof typeof LABELS.MeasureCategory
export type MeasureStatus = keyof typeof LABELS.MeasureStatus
export type ExitReviewStatus = keyof typeof LABELS.ExitReviewStatus
export type MeasureKind = keyof typeof LABELS.MeasureKind

/** The values of one enum, in the table's (the contract's) order. */
export function valuesOf<E extends LabelEnum> (e: E): ReadonlyArray<keyof typeof LABELS[E] & string> {
  return Object.keys(LABELS[e]) as Array<keyof typeof LABELS[E] & string>
}

export const HOUSEHOLD_STATUSES = valuesOf('HouseholdStatus')
export const POVERTY_ATTRIBUTES = valuesOf('PovertyAttribute')
export const POVERTY_CAUSES = valuesOf('PovertyCause')
export const RELATIONS = valuesOf('Relation')
export const SEXES = valuesOf('Sex')
export const HEALTH_CONDITIONS = valuesOf('HealthCondition')
export const LABOR_CAPACITIES = valuesOf('LaborCapacity')
export const SCHOOLING_STATUSES = valuesOf('SchoolingStatus')
export const EMPLOYMENT_STATUSES = valuesOf('EmploymentStatus')
export const MEASURE_CATEGORIES = valuesOf('MeasureCategory')
export const MEASURE_STATUSES = valuesOf('MeasureStatus')
export const EXIT_REVIEW_STATUSES = valuesOf('ExitReviewStatus')
export const MEMBER_REMOVAL_REASONS = valuesOf('MemberRemovalReason')
export const HOUSEHOLD_CLOSE_REASONS = valuesOf('HouseholdCloseReason')
export const TARGET_INDICATORS = valuesOf('TargetIndicator')
export const WORK_ITEM_DISPOSITIONS = valuesOf('WorkItemDisposition')
export const PROJECT_STATUSES = valuesOf('ProjectStatus')
export const FUND_SOURCES = valuesOf('FundSource')
export const WORK_TEAM_ROLES = valuesOf('WorkTeamRole')
export const MEASURE_KIND_VALUES = valuesOf('MeasureKind')

/** Narrows an untrusted string (REST body, import row) to a value of the enum. */
export function isEnumValue<E extends LabelEnum> (e: E, value: unknown): value is keyof typeof LABELS[E] & string {
  return typeof value === 'string' && Object.hasOwn(LABELS[e], value)
}

/** English labels where humanising the value would mislead or say too little. */
const EN: Partial<Record<LabelEnum, Record<string, string>>> = {
  HouseholdStatus: { POOR: 'Not yet lifted out of poverty', EXITED: 'Lifted out of poverty', RETURNED: 'Returned to poverty', CLOSED: 'Closed (de-registered)' },
  PovertyAttribute: { GENERAL: 'General poor household', DIBAO: 'Minimum living guarantee (dibao) household', EXTREME_SUPPORT: 'Extreme-poverty support household' },
  LaborCapacity: { WEAK: 'Weak or half labour', LOST: 'Lost labour capacity', NONE: 'No labour capacity (minor, student or elderly)' },
  SchoolingStatus: { SECONDARY_VOCATIONAL: 'Secondary vocational school' },
  ExitReviewStatus: { VERIFIED: 'Verified (public notice)' },
  ExitReviewAction: { OBJECT: 'Objection (during the public notice)' },
  WorkItemDisposition: { NEEDS_VISIT: 'Needs a home visit' },
  Role: { EXCHANGE: 'Departmental data exchange' },
  ProjectStatus: { PLANNED: 'Planned (in the library)', APPROVED: 'Approved' },
  FundSource: {
    CENTRAL: 'Central special poverty funds',
    PROVINCE: 'Provincial special poverty funds',
    CITY: 'City special poverty funds',
    COUNTY: 'County special poverty funds',
    INTEGRATED: 'Integrated agricultural funds',
    OTHER: 'Other funds'
  },
  WorkTeamRole: { FIRST_SECRETARY: 'First Party secretary (resident in the village)', TEAM_LEADER: 'Work team leader', MEMBER: 'Work team member' },
  MeasureKind: {
    e_commerce: 'E-commerce',
    asset_income_share: 'Asset-income share',
    workshop: 'Poverty-alleviation workshop',
    microcredit: 'Poverty-alleviation microcredit',
    returned_farmland: 'Returning farmland to forest',
    public_welfare_forest: 'Public-welfare forest compensation',
    rain_dew_plan: 'Rain and Dew Plan (vocational education subsidy)',
    dibao: 'Rural minimum living guarantee (dibao)',
    extreme_support: 'Extreme-poverty support',
    pension_subsidy: 'Pension insurance premium paid by the government',
    dangerous_house_renovation: 'Dangerous house renovation'
  }
}

const humanise = (value: string): string => {
  const words = value.toLowerCase().replaceAll('_', ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** Every (enum, value, label) triple for one locale, e.g. for a front end's dictionary. */
export function labelsFor (locale: 'zh' | 'en'): Array<{ enum: string, value: string, label: string }> {
  const out: Array<{ enum: string, value: string, label: string }> = []
  for (const [name, table] of Object.entries(LABELS) as Array<[LabelEnum, Record<string, string>]>) {
    for (const [value, zh] of Object.entries(table)) {
      const label = locale === 'zh' ? zh : EN[name]?.[value] ?? humanise(value)
      out.push({ enum: name, value, label })
    }
  }
  return out
}
