/**
 * The reasons a row is rejected, in Chinese for the error report (`Accept-Language: zh`).
 * Rows' errors are stored as the English the validators write (kinds.ts, parse.ts,
 * shared/national-id.ts); each of those sentences has its rendering here, so reports of
 * jobs already run are translated too. A message with no rendering (none is expected)
 * is shown as stored.
 */
const ZH: ReadonlyArray<readonly [RegExp, (...groups: string[]) => string]> = [
  [/^is required$/, () => '必填，不能为空'],
  [/^must be true or false$/, () => '应为 是/否（true/false、1/0、yes/no）'],
  [/^must be a whole number$/, () => '应为整数'],
  [/^must be a number$/, () => '应为数字'],
  [/^must be from (\S+) to (\S+)$/, (min, max) => `应在 ${min} 至 ${max} 之间`],
  [/^must have at most 2 decimals$/, () => '最多保留两位小数'],
  [/^must be text$/, () => '应为文本'],
  [/^must be at most (\d+) characters$/, (n) => `最多 ${n} 个字符`],
  [/^must be a date YYYY-MM-DD$/, () => '应为日期，格式 YYYY-MM-DD'],
  [/^must not be in the future$/, () => '不能晚于今天'],
  [/^must be one of (.+)$/, (values) => `应为以下之一：${values}`],
  [/^must be 18 characters$/, () => '身份证号码应为 18 位'],
  [/^must be 17 digits followed by a digit or X$/, () => '身份证号码应为 17 位数字加一位数字或 X'],
  [/^check digit does not match$/, () => '身份证号码校验码不符'],
  [/^first two digits are not a province code$/, () => '身份证号码前两位不是省级行政区划代码'],
  [/^birth date is not a real date$/, () => '身份证号码中的出生日期不存在'],
  [/^birth date is before 1900$/, () => '身份证号码中的出生日期早于 1900 年'],
  [/^birth date is in the future$/, () => '身份证号码中的出生日期晚于今天'],
  [/^is not valid JSON$/, () => '该行不是有效的 JSON'],
  [/^must be a JSON object$/, () => '该行应为 JSON 对象'],
  [/^must be a bank account number of 12–30 digits$/, () => '应为 12 至 30 位数字的银行账号'],
  // Payments refused by the payment rule (finance.payments; src/modules/projects/payments.ts).
  [/^Project not found$/, () => '项目不存在（或不在本部门辖区内）'],
  [/^A project pays only once APPROVED or IN_PROGRESS \(this one is (\w+)\)$/, (status) => `项目须为已批复或实施中方可拨付（当前状态：${status}）`],
  [/^is not a beneficiary of the project$/, () => '该人员所在户不是本项目的受益户'],
  [/^is not a member of this household$/, () => '不是该户的家庭成员'],
  [/^would make paid exceed allocated \((\S+) yuan left of (\S+)\)$/, (left, of) => `拨付后将超过下达资金（下达 ${of} 元，尚余 ${left} 元）`],
  [/^A payment with reference (.+) is already recorded for the project$/s, (ref) => `该笔拨付（凭证 ${ref}）已记录，不重复拨付`],
  [/^CSV cannot be read from here on: (.*)$/s, (why) => `CSV 文件自此行起无法读取（格式错误：${why}）`]
]

/** The message in the language asked. */
export function localisedMessage (message: string, language: 'zh' | 'en'): string {
  if (language === 'en') return message
  for (const [pattern, render] of ZH) {
    const m = pattern.exec(message)
    if (m !== null) return render(...m.slice(1))
  }
  return message
}
