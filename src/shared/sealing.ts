import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'

/**
 * Encryption at rest for national ID and bank account numbers: AES-256-GCM with a
 * random 96-bit IV per value, stored as `v1.<iv>.<ciphertext+tag>` (base64url), and a
 * keyed hash (HMAC-SHA256) beside it for exact lookup and uniqueness. Both keys are
 * derived from DATA_KEY with HKDF, so one secret serves both and neither is the other.
 */
export class Sealer {
  private readonly encryptionKey: Buffer
  private readonly lookupKey: Buffer

  constructor (dataKey: Buffer) {
    if (dataKey.length !== 32) throw new Error('the data key must be 32 bytes')
    this.encryptionKey = Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'beneficiary-registry seal v1', 32))
    this.lookupKey = Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'beneficiary-registry lookup v1', 32))
  }

  seal (plain: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, iv)
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`
  }

  open (sealed: string): string {
    const [version, iv, body] = sealed.split('.')
    if (version !== 'v1' || iv === undefined || body === undefined) throw new Error('not a sealed value')
    const data = Buffer.from(body, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', this.encryptionKey, Buffer.from(iv, 'base64url'))
    decipher.setAuthTag(data.subarray(data.length - 16))
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8')
  }

  /** Deterministic keyed hash of a (normalised) value. */
  lookupHash (value: string): string {
    return createHmac('sha256', this.lookupKey).update(value, 'utf8').digest('hex')
  }
}
