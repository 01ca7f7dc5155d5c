/**
 * The service as separate processes (`npm start`, the compiled server, the command-line
 * tools), for the tests of what an operator runs: started with an environment of their
 * own, waited on until ready, stopped by signal.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { createServer, type IncomingMessage } from 'node:http'
import net from 'node:net'

/** A port nothing listens on now. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => { resolve(port) })
    })
  })
}

/**
 * Only PATH and HOME of this process: the service sees no test setting it was not given.
 * Load shedding is off: starting PGlite blocks the event loop for seconds, and the first
 * requests after it would be shed on a busy machine.
 */
export function cleanEnv (env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LOAD_SHED_EVENT_LOOP_DELAY_MS: '0', ...env }
}

export interface Running {
  child: ChildProcess
  /** Everything written so far. */
  stdout: () => string
  stderr: () => string
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * Runs a command as an operator would: without the NODE_OPTIONS that tap's process-info
 * adds to every child of a test (its hooks, and a file written at exit in .tap/), through
 * `env -u`, which then executes the command in its own place (same pid, same signals).
 */
export function run (command: string, args: string[], options: SpawnOptions & { env: NodeJS.ProcessEnv }): Running {
  const child = spawn('env', ['-u', 'NODE_OPTIONS', command, ...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => { out += String(d) })
  child.stderr!.on('data', (d: Buffer) => { err += String(d) })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { resolve({ code, signal }) })
  })
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** Runs a command to its end. */
export async function runToEnd (command: string, args: string[], options: SpawnOptions & { env: NodeJS.ProcessEnv }): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = run(command, args, options)
  const { code } = await p.exited
  return { code, stdout: p.stdout(), stderr: p.stderr() }
}

/** Waits until GET /readyz answers 200, or fails when the process exits or the time is up. */
export async function waitReady (p: Running, port: number, timeoutMs = 90_000): Promise<void> {
  let done = false
  void p.exited.then(() => { done = true })
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (done) throw new Error(`the process exited before it was ready:\n${p.stdout()}\n${p.stderr()}`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`)
      if (res.status === 200) return
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  throw new Error(`not ready within ${timeoutMs} ms:\n${p.stdout()}\n${p.stderr()}`)
}

/** True when nothing accepts connections on the port. */
export async function portClosed (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => { resolve(true) })
  })
}

/** A JWT anywhere in a text. */
export const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/

/** A span as OTLP/HTTP JSON carries it. */
export interface Span { traceId: string, spanId: string, parentSpanId?: string, name: string, kind: number, attributes: Array<{ key: string, value: Record<string, unknown> }> }

/** A span's attribute value. */
export const attr = (s: Span, key: string): unknown => {
  const v = s.attributes.find(a => a.key === key)?.value
  return v === undefined ? undefined : Object.values(v)[0]
}

/**
 * An OpenTelemetry collector in the test: an HTTP server taking OTLP/HTTP JSON exports,
 * keeping the spans it receives. `close` stops it.
 */
export async function otlpCollector (): Promise<{ url: string, spans: Span[], close: () => void }> {
  const spans: Span[] = []
  const body = async (req: IncomingMessage): Promise<string> => {
    let text = ''
    for await (const chunk of req) text += String(chunk)
    return text
  }
  const server = createServer((req, res) => {
    void body(req).then((text) => {
      if (req.url === '/v1/traces') {
        const payload = JSON.parse(text) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }> }
        for (const rs of payload.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, spans, close: () => { server.close() } }
}

/** Waits until `found` returns a value for the spans received so far (30 s at most). */
export async function waitForSpans<T> (found: () => T | undefined): Promise<T | undefined> {
  const until = Date.now() + 30_000
  let value = found()
  while (value === undefined && Date.now() < until) {
    await new Promise(resolve => setTimeout(resolve, 200))
    value = found()
  }
  return value
}

/** A service process on PostgreSQL, as `node --import tsx src/server.ts` runs it (see `serviceProcess`). */
export interface ServiceProcess {
  child: ChildProcess
  port: number
  /** Its output so far, one entry per line (pino JSON on stdout; stderr as it came). */
  log: string[]
  /** Its log lines parsed, those that are JSON. */
  entries: () => Array<Record<string, unknown>>
  exited: Promise<void>
}

/**
 * Starts the service on `env.DATABASE_URL` in a process of its own with exactly this
 * environment (plus PATH and a free PORT), waits until `/readyz` answers 200, and kills it
 * (SIGKILL) at the end of the test if it still runs. Several started at once race for the
 * same database as replicas do.
 */
export async function serviceProcess (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string>, cwd: string): Promise<ServiceProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const log: string[] = []
  let buffered = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    log.push(...lines)
  })
  child.stderr!.on('data', (chunk: Buffer) => { log.push(chunk.toString()) })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  t.teardown(async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited } })
  const entries = (): Array<Record<string, unknown>> => log.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] } })
  for (let i = 0; i < 1200; i++) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(r => r.status === 200, () => false)
    if (ready) return { child, port, log, entries, exited }
    if (child.exitCode !== null) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`the service did not start: ${log.join('\n')}`)
}
