/** The two stores @fastify/rate-limit ships (CommonJS, untyped), combined by src/infra/limits.ts. */
declare module '@fastify/rate-limit/store/*.js' {
  import type { FastifyRateLimitStore } from '@fastify/rate-limit'
  const Store: {
    new (continueExceeding: boolean, exponentialBackoff: boolean, redisOrCacheSize?: unknown, key?: string): FastifyRateLimitStore
  }
  export default Store
}
