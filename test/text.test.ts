import fc from 'fast-check'
import t from 'tap'
import { nameProblem } from '../src/shared/text.js'

/** A name as plain ASCII for the test's output (TAP lines must not hold line separators). */
const show = (s: string): string => JSON.stringify(s).replace(/[^\x20-\x7e]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

t.test('names: ordinary names of every script pass', async (t) => {
  for (const name of ['王建国', '李 秀英', 'Ma Li', 'O\'Brien-Smith', '阿卜杜·热合曼', 'José', 'Zoë', '👨‍👩‍👧', '卢氏县农村信用合作联社', ' 张三 ', '']) {
    t.equal(nameProblem(name), null, show(name))
  }
})

t.test('names: control characters, direction controls and invisible-only strings are refused', async (t) => {
  for (const name of ['李\n四', '李\t四', '\r', '\u0007', 'a\u0085b', '张\u2028三', '\u0000']) t.equal(nameProblem(name), 'must not contain control characters', show(name))
  for (const name of ['王\u202E国建', '\u202Aa\u202C', '\u2066王\u2069', '名\u200F', '\u200E名', '\u061C名']) t.equal(nameProblem(name), 'must not contain text-direction controls', show(name))
  for (const name of ['\u200B', '\u200B\u200D\uFEFF', ' \u00AD ', '\u3164', '\u0301', '\u2800', '\u180E']) t.equal(nameProblem(name), 'must contain a visible character', show(name))
  // Any string holding a control or direction character, wherever it stands, is refused.
  const bad = fc.constantFrom(...'\u0001\u0009\u000A\u001F\u007F\u0080\u009F\u2028\u2029\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061C')
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), bad, fc.string({ unit: 'grapheme' }), (a, c, b) => nameProblem(a + c + b) !== null))
  // Visible text with zero-width joiners or spaces inside is a name.
  fc.assert(fc.property(fc.stringMatching(/^[\u4e00-\u9fa5]{1,5}$/), fc.constantFrom('', '\u200B', '\u200D', ' '), (s, z) => nameProblem(s + z + s) === null))
})
