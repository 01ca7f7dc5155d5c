import type { FastifyBaseLogger, FastifyRequest, FastifyServerOptions } from 'fastify'
import type { Config } from '../config.js'

/** A bearer token (JWT): three base64url parts, the first an encoded JSON object. */
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]*/g
/**
 * Personal data that must never reach a log line, wherever it hides (a URL, an
 * error message, a request body): national ID numbers (18 characters), mobile
 * phone numbers (11 digits from 13–19), bank account numbers (16–19 digits) and
 * bearer tokens (JWTs).
 */
const SCRUB = [
  /(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])/g,
  /(?<!\d)1[3-9]\d{9}(?!\d)/g,
  /(?<!\d)\d{16,19}(?!\d)/g,
  JWT
]

/** JSON string tokens (a log line is one JSON object). */
const STRING = /"(?:[^"\\]|\\.)*"/g
/** JSON number tokens, between the strings. */
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g

function scrubText (text: string): string {
  let out = text
  for (const re of SCRUB) out = out.replace(re, '[REDACTED]')
  return out
}

/**
 * The log line with personal data replaced by `[REDACTED]`, still valid JSON: inside a
 * string the match is replaced; a number whose integer part is such data (a phone
 * number logged as a number) becomes the string "[REDACTED]" as a whole. The digits of a
 * number's fraction or exponent are never data: `0.13812345678` (a response time) stays.
 */
export function scrub (line: string): string {
  let out = ''
  let at = 0
  for (const m of line.matchAll(STRING)) {
    out += scrubNumbers(line.slice(at, m.index)) + scrubText(m[0])
    at = m.index + m[0].length
  }
  return out + scrubNumbers(line.slice(at))
}

/** Between the strings: numbers (see `scrub`); a token there only if the line is not JSON. */
function scrubNumbers (text: string): string {
  return text.replace(JWT, '[REDACTED]').replace(NUMBER, (n) => {
    const whole = n.replace(/^-/, '').split(/[.eE]/)[0]!
    return scrubText(whole) === whole ? n : '"[REDACTED]"'
  })
}

export function loggerOptions (config: Pick<Config, 'logLevel'>): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.nationalId', '*.national_id', '*.phone', '*.bankAccount', '*.token'
      ],
      censor: '[REDACTED]'
    },
    hooks: { streamWrite: scrub }
  }
}

/**
 * Adds `bindings` to every later log line of the request (its "request completed" line
 * too). Fastify gives each request a child logger of its own, shared by the request and
 * its reply, so the bindings are set on it in place: a child of that child, per request
 * and per binding, was a measurable share of a write's CPU (docs/benchmarks.md).
 */
export function bindRequestLog (req: FastifyRequest, bindings: Record<string, unknown>): void {
  const log = req.log as FastifyBaseLogger & { setBindings?: (b: Record<string, unknown>) => void }
  if (typeof log.setBindings === 'function') log.setBindings(bindings)
  else req.log = log.child(bindings)
}
