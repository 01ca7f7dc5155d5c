import fc from 'fast-check'
import t from 'tap'
import { nameProblem, textProblem } from '../src/shared/text.js'

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

t.test('free text (notes): line breaks and tabs pass; other controls, direction controls, invisible-only text and overlong text are refused', async (t) => {
  for (const note of ['入户走访，了解收入情况', '第一行\n第二行\r\n第三行', '\t缩进', '', 'ok 👍']) t.equal(textProblem(note, 1000), null, show(note))
  for (const note of ['\u0007', 'a\u0000b', 'a\u0085b', '张\u2028三', '\u000B']) t.equal(textProblem(note, 1000), 'must not contain control characters', show(note))
  t.equal(textProblem('王\u202E国建', 1000), 'must not contain text-direction controls')
  t.equal(textProblem('\u200B\n\u200B', 1000), 'must contain a visible character')
  t.equal(textProblem('名'.repeat(11), 10), 'must be at most 10 characters')
  t.equal(textProblem('👍'.repeat(10), 10), null, 'counted in characters, not UTF-16 units')
  // Visible lines joined by line breaks are a note; one control or direction character anywhere is not.
  const line = fc.stringMatching(/^[\u4e00-\u9fa5a-z0-9，。 ]{1,20}$/).filter(s => s.trim() !== '')
  fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), fc.constantFrom('\n', '\r\n', '\t'), (lines, sep) => textProblem(lines.join(sep), 1000) === null))
  const bad = fc.constantFrom(...'\u0001\u0008\u000B\u000C\u001F\u007F\u0080\u009F\u2028\u2029\u202A\u202E\u2066\u2069\u200E\u200F\u061C')
  fc.assert(fc.property(line, bad, line, (a, c, b) => textProblem(a + c + b, 1000) !== null))
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.nat(40), (s, max) => Array.from(s).length <= max || textProblem(s, max) !== null))
})
