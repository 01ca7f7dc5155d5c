# syntax=docker/dockerfile:1
# Production image: compiled JavaScript, production dependencies only, non-root.
# Run with a real PostgreSQL:
#   docker run -e DATABASE_URL=postgres://… -e JWT_SECRET=… (or JWT_JWKS_URL=…) -p 3000:3000 beneficiary-registry
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json openapi.yaml ./
COPY migrations ./migrations
COPY graphql ./graphql
COPY src/db/seed ./src/db/seed
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# A young generation of 32 MiB semi-spaces instead of 16: a page of 50 households is about
# 1 MiB of short-lived objects, and 16 requests in flight outgrew the default, so each
# scavenge copied their live data; scavenging took 40 % less time (docs/benchmarks.md).
# bench/bench-server.ts starts the service with the same flag.
CMD ["node", "--max-semi-space-size=32", "dist/src/server.js"]
