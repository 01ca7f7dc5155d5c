import type { NodeSDK } from '@opentelemetry/sdk-node'
import type { TelemetryConfig } from './config.js'

let sdk: NodeSDK | null = null

/**
 * OpenTelemetry tracing, exported over OTLP/HTTP: the HTTP server and client, Fastify's
 * request lifecycle (@fastify/otel), GraphQL parse/validate/execute and every pg query.
 * Must run before the app's modules are imported (src/instrument.ts, loaded by
 * `node --import`): the service is ESM, so its imports are hooked through
 * import-in-the-middle (`@opentelemetry/instrumentation/hook.mjs`), registered here
 * first; CommonJS dependencies (fastify, mercurius, graphql, pg) are patched as they are
 * required. Nothing is loaded when no endpoint is set.
 */
export async function startTelemetry (config: TelemetryConfig): Promise<void> {
  if (config.endpoint === null || sdk !== null) return
  const { register } = await import('node:module')
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url)
  const [{ NodeSDK }, { OTLPTraceExporter }, { HttpInstrumentation }, { FastifyOtelInstrumentation }, { GraphQLInstrumentation }, { PgInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/instrumentation-http'),
    import('@fastify/otel'),
    import('@opentelemetry/instrumentation-graphql'),
    import('@opentelemetry/instrumentation-pg')
  ])
  sdk = new NodeSDK({
    serviceName: config.serviceName,
    traceExporter: new OTLPTraceExporter({ url: new URL('v1/traces', config.endpoint.href.endsWith('/') ? config.endpoint : `${config.endpoint.href}/`).href }),
    instrumentations: [
      // The probes are polled every few seconds: no trace for them.
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url === '/healthz' || req.url === '/readyz' }),
      new FastifyOtelInstrumentation({ registerOnInitialization: true }),
      // Resolver spans only where a field does I/O of its own (loaders' fields would be one span per row otherwise).
      new GraphQLInstrumentation({ mergeItems: true, ignoreTrivialResolveSpans: true }),
      new PgInstrumentation()
    ]
  })
  sdk.start()
}

/** Sends the spans still buffered and stops (on shutdown). */
export async function stopTelemetry (): Promise<void> {
  await sdk?.shutdown()
  sdk = null
}
