import { readFileSync } from 'node:fs'
import t from 'tap'
import { buildSchema, getNamedType, isEnumType, isInputObjectType, isIntrospectionType, isObjectType, isSpecifiedScalarType, type GraphQLSchema } from 'graphql'
import { paths } from '../src/paths.js'
import { labelsFor } from '../src/shared/labels.js'

const schema = buildSchema(readFileSync(paths.schema, 'utf8'))

const described = (d: string | null | undefined): boolean => d != null && d.trim() !== ''

/** Every type, field, argument, input field and enum value without a description, by its schema coordinate. */
function undescribed (s: GraphQLSchema): string[] {
  const out: string[] = []
  for (const type of Object.values(s.getTypeMap())) {
    if (isIntrospectionType(type) || isSpecifiedScalarType(type)) continue
    if (!described(type.description)) out.push(type.name)
    if (isObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        if (!described(field.description)) out.push(`${type.name}.${field.name}`)
        for (const arg of field.args) if (!described(arg.description)) out.push(`${type.name}.${field.name}(${arg.name}:)`)
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) if (!described(field.description)) out.push(`${type.name}.${field.name}`)
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) if (!described(value.description)) out.push(`${type.name}.${value.name}`)
    }
  }
  return out
}

t.test('every type, field, argument, input field and enum value of the schema is described', async (t) => {
  t.same(undescribed(schema), [])
})

t.test('the count sees what is missing', async (t) => {
  const bare = buildSchema('"A type." type Query { "A field." a(x: Int): Int b: Int } enum E { "one" ONE TWO } input I { "one" a: Int b: Int }')
  t.same(undescribed(bare), ['Query.a(x:)', 'Query.b', 'E', 'E.TWO', 'I', 'I.b'])
})

t.test('labels() covers every enum of the schema, each value once', async (t) => {
  const labels = labelsFor('zh')
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isEnumType(type) || isIntrospectionType(type)) continue
    t.same(labels.filter(l => l.enum === type.name).map(l => l.value), type.getValues().map(v => v.name), type.name)
  }
})

t.test('timestamps beyond the contract are DateTime; those the contract fixes stay String', async (t) => {
  const typeOf = (coordinate: string): string => {
    const [type, field] = coordinate.split('.') as [string, string]
    const def = schema.getType(type)
    if (!isObjectType(def)) throw new Error(`${type} is not an object type`)
    return getNamedType(def.getFields()[field]!.type).name
  }
  for (const c of ['ExitReview.createdAt', 'ExitReview.updatedAt', 'ExitReviewStep.at', 'HouseholdStatusChange.at',
    'ExitNotice.noticeStartsAt', 'ExitNotice.noticeEndsAt', 'WorkItem.createdAt', 'WorkItem.resolvedAt', 'PlanTarget.updatedAt', 'Visit.createdAt']) {
    t.equal(typeOf(c), 'DateTime', c)
  }
  // Contract §5: `at: String!`, `noticeEndsAt: String`, `deceasedAt: String`, dates as String.
  for (const c of ['AuditEntry.at', 'ExitReview.noticeEndsAt', 'Member.deceasedAt', 'Member.birthDate', 'Measure.startDate']) t.equal(typeOf(c), 'String', c)
})
