import t from 'tap'
import { attach, prefetched } from '../src/shared/prefetch.js'

t.test('a prefetched value is found by its field and the same arguments, named in any order, an undefined one counting as absent', async (t) => {
  const household = {}
  const members = [{ id: 'm1' }]
  const filtered = [{ id: 'm2' }]
  attach(household, 'members', { includeRemoved: false }, members)
  attach(household, 'measures', { where: { kind: 'LOAN', year: 2020 } }, filtered)
  t.equal(prefetched(household, 'members', { includeRemoved: false }), members)
  t.equal(prefetched(household, 'members', { includeRemoved: false, other: undefined }), members, 'undefined is absent')
  t.equal(prefetched(household, 'members', { includeRemoved: true }), undefined, 'other arguments: not prefetched')
  t.equal(prefetched(household, 'members', {}), undefined, 'an argument missing: not prefetched')
  t.equal(prefetched(household, 'incomes', {}), undefined, 'another field: not prefetched')
  t.equal(prefetched(household, 'measures', { where: { year: 2020, kind: 'LOAN' } }), undefined, 'input objects compare as JSON (key order counts): read again, never wrong')
  t.equal(prefetched(household, 'measures', { where: { kind: 'LOAN', year: 2020 } }), filtered, 'an equal input object')
  attach(household, 'incomes', { from: 2016, to: 2020 }, members)
  t.equal(prefetched(household, 'incomes', { to: 2020, from: 2016 }), members, 'arguments named in another order')
  t.equal(prefetched(null, 'members', {}), undefined)
})
