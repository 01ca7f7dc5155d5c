# syntax=docker/dockerfile:1
# Production image: compiled JavaScript, production dependencies only, non-root, the
# code read-only to the user it runs as. See README "Container". With a real PostgreSQL:
#   docker run -e DATABASE_URL=postgres://… -e JWT_SECRET=… (or JWT_JWKS_URL=…) -e DATA_KEY=… -e AUDIT_SIGNING_KEY=… -p 3000:3000 beneficiary-registry
# Embedded database (a volume keeps it, and its generated secrets, across containers):
#   docker run -v registry-data:/app/data -p 3000:3000 beneficiary-registry
# Tokens and migrations (tsx is not in the image; the commands are compiled):
#   docker run --rm … beneficiary-registry node dist/src/cli/token.js --role ADMIN --region 4112
#   docker run --rm … beneficiary-registry node dist/src/cli/migrate.js
# test/machine-pg/image.test.ts runs this file's layout (its COPY, ENV, data directory and CMD) as a
# non-root user from a read-only copy, since no image can be built there.
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
# The only directory the service writes: the embedded database and its generated secrets
# (DATA_DIR defaults to ./data). Everything else stays root's, read-only to the service.
RUN mkdir data && chown node:node data
VOLUME /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# A young generation of 32 MiB semi-spaces instead of 16: a page of 50 households is about
# 1 MiB of short-lived objects, and 16 requests in flight outgrew the default, so each
# scavenge copied their live data; scavenging took 40 % less time (docs/benchmarks.md).
# bench/bench-server.ts starts the service with the same flag. src/instrument.ts comes first
# so that tracing (when OTEL_EXPORTER_OTLP_ENDPOINT is set) hooks the app's imports.
CMD ["node", "--max-semi-space-size=32", "--import", "./dist/src/instrument.js", "dist/src/server.js"]
