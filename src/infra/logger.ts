import type { FastifyServerOptions } from 'fastify'
import type { Config } from '../config.js'

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
  /eyJ[\w-]+\.[\w-]+\.[\w-]*/g
]

export function scrub (line: string): string {
  let out = line
  for (const re of SCRUB) out = out.replace(re, '[REDACTED]')
  return out
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
