/**
 * Loaded before the server or a command by `node --import` (package.json `start`, the
 * Dockerfile): starts tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set, before any module
 * that it instruments is imported. See src/telemetry.ts.
 */
import { ConfigError, loadTelemetryConfig } from './config.js'
import { startTelemetry } from './telemetry.js'

try {
  await startTelemetry(loadTelemetryConfig())
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  // server.ts names it with every other bad variable and stops.
}
