import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto'
import canonicalize from 'canonicalize'

/**
 * Signed tree heads of the audit log (contract §9): Ed25519 (EdDSA) over the RFC 8785
 * canonical JSON of `{ treeSize, rootHash, timestamp, keyId }`, signature in base64url.
 * Pure crypto, so that the offline verifier needs nothing but this file and the Merkle one.
 */

/** An Ed25519 public key as a JWK (RFC 8037), with its RFC 7638 thumbprint as `kid`. */
export interface PublicJwk { kty: 'OKP', crv: 'Ed25519', x: string, kid: string, alg: 'EdDSA', use: 'sig' }

export interface SigningKey {
  keyId: string
  privateKey: KeyObject
  publicJwk: PublicJwk
}

export interface TreeHead {
  treeSize: number
  rootHash: string
  timestamp: string
  keyId: string
  signature: string
}

/** RFC 7638 thumbprint of an Ed25519 key: SHA-256 of its required members in order, base64url. */
function thumbprint (x: string): string {
  return createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url')
}

function jwkOf (publicKey: KeyObject): PublicJwk {
  const jwk = publicKey.export({ format: 'jwk' })
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 key')
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: thumbprint(jwk.x), alg: 'EdDSA', use: 'sig' }
}

/** A private Ed25519 key from a PKCS#8 PEM or a private JWK (JSON); throws with the reason when it is neither. */
export function parseSigningKey (text: string): SigningKey {
  const trimmed = text.trim()
  const privateKey = trimmed.startsWith('{')
    ? createPrivateKey({ key: JSON.parse(trimmed) as JsonWebKey, format: 'jwk' })
    : createPrivateKey(trimmed)
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`an Ed25519 key is needed, not ${privateKey.asymmetricKeyType ?? 'a symmetric key'}`)
  const publicJwk = jwkOf(createPublicKey(privateKey))
  return { keyId: publicJwk.kid, privateKey, publicJwk }
}

/** A new key as PKCS#8 PEM (the embedded default keeps one in the data directory). */
export function newSigningKeyPem (): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
}

/** Public Ed25519 JWKs from a JWK set or an array of JWKs (JSON), each given its thumbprint as `kid`. */
export function parsePublicKeys (text: string): PublicJwk[] {
  const parsed = JSON.parse(text) as unknown
  const list = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys
  if (!Array.isArray(list)) throw new Error('expected a JWK set ({ "keys": [...] }) or an array of JWKs')
  return list.map((k) => jwkOf(createPublicKey({ key: { ...(k as object), d: undefined } as JsonWebKey, format: 'jwk' })))
}

function signedBytes (head: Omit<TreeHead, 'signature'>): Buffer {
  return Buffer.from(canonicalize({ treeSize: head.treeSize, rootHash: head.rootHash, timestamp: head.timestamp, keyId: head.keyId }) ?? '')
}

export function signHead (key: SigningKey, treeSize: number, rootHash: string, timestamp: Date): TreeHead {
  const head = { treeSize, rootHash, timestamp: timestamp.toISOString(), keyId: key.keyId }
  return { ...head, signature: sign(null, signedBytes(head), key.privateKey).toString('base64url') }
}

/** Null when the head's signature verifies with the key it names, else the reason. */
export function headProblem (head: TreeHead, keys: readonly PublicJwk[]): string | null {
  const jwk = keys.find(k => k.kid === head.keyId)
  if (jwk === undefined) return `no public key with id ${head.keyId}`
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' })
  let ok = false
  try { ok = verify(null, signedBytes(head), publicKey, Buffer.from(head.signature, 'base64url')) } catch {}
  return ok ? null : 'the signature does not match the head'
}
