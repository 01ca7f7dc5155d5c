import { SignJWT } from 'jose'
import type { Config } from '../config.js'

export interface TokenClaims {
  sub: string
  role: string
  region: string
  dept?: string
}

/** Mints an HS256 token the service accepts (development, tests). */
export async function mintToken (auth: Pick<Config['auth'], 'secret' | 'issuer' | 'audience'>, claims: TokenClaims, expiresIn: string | number = '8h'): Promise<string> {
  if (auth.secret === null) throw new Error('tokens can only be minted with JWT_SECRET (or the embedded default secret)')
  const { sub, ...rest } = claims
  return await new SignJWT({ ...rest })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(auth.secret)
}
