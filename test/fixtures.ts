/** Unique, valid test data: national IDs with real check digits, members, households. */
import { randomInt } from 'node:crypto'
import { nationalIdCheckDigit } from '../src/shared/national-id.js'

let counter = randomInt(0, 500)

/** A fresh valid national ID born on `birthDate` (YYYY-MM-DD), of the given sex. */
export function nationalId (birthDate = '1980-05-17', sex: 'MALE' | 'FEMALE' = 'MALE'): string {
  counter = (counter + 1) % 500
  const seq = String(counter * 2 + (sex === 'MALE' ? 1 : 0)).padStart(3, '0')
  const area = String(randomInt(100000, 999999)).replace(/^\d{2}/, '41')
  const first17 = area + birthDate.replaceAll('-', '') + seq
  return first17 + nationalIdCheckDigit(first17)
}

export function memberInput (over: Record<string, unknown> = {}): Record<string, unknown> {
  return { nationalId: nationalId(), name: '张三', relation: 'HEAD', laborCapacity: 'ORDINARY', medicalInsurance: true, ...over }
}

/** A household of a head, a spouse and a school-age child in `village`. */
export function householdInput (village: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    regionCode: village,
    attribute: 'GENERAL',
    mainCause: 'ILLNESS',
    otherCauses: ['LACK_OF_FUNDS'],
    identificationYear: 2016,
    housingSafe: true,
    phone: '13812345678',
    bankName: '卢氏县农村信用合作联社',
    bankAccount: '6222020200112233445',
    helper: { name: '李四', unit: '卢氏县扶贫办', phone: '13900001111' },
    members: [
      memberInput({ name: '王建国', nationalId: nationalId('1975-03-02', 'MALE') }),
      memberInput({ name: '李秀英', relation: 'SPOUSE', nationalId: nationalId('1978-11-20', 'FEMALE'), healthConditions: ['CHRONIC_ILLNESS'] }),
      memberInput({ name: '王小明', relation: 'CHILD', nationalId: nationalId('2008-09-01', 'MALE'), laborCapacity: 'NONE', schooling: 'JUNIOR_HIGH' })
    ],
    ...over
  }
}

export const HOUSEHOLD_FIELDS = `id householdNo status attribute mainCause otherCauses identificationYear exitYear housingSafe drinkingWaterSafe
  foodSecure clothingSecure phone bankName bankAccount helper { name unit phone } headName version region { code name }`
export const MEMBER_FIELDS = `id nationalId name sex birthDate relation healthConditions disabilityGrade laborCapacity schooling wantsWork employment
  medicalInsurance seriousIllnessInsurance pensionInsurance dibao extremeSupport deceasedAt active removalReason version`
