/**
 * Test helper for the end-to-end tests that run the real
 * `node bin/dyncluster.js run --config FILE` process and check it through
 * its REST API and its JSON log (OpenStack, EC2, simulated cluster, Grid
 * Engine, Slurm, shadow mode): writes the configuration (and the files it
 * names) into a temporary directory, starts the daemon, waits for its
 * dashboard line, and gives the API, the log and a diagnostic for failures.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expect } from "vitest"
import { startDyncluster, type Daemon } from "./process.ts"

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Polls `what` every `everyMs` until it is true (→ true) or `ms` have passed (→ false). */
export const until = async (what: () => Promise<boolean> | boolean, ms: number, everyMs = 250): Promise<boolean> => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await what()) return true
    await sleep(everyMs)
  }
  return false
}

/** The base URL (`http://127.0.0.1:PORT`) from the daemon's "dashboard at" line (text or JSON log). */
export const dashboardUrl = async (d: Daemon, ms = 60_000): Promise<string> => {
  const line = await d.waitForLine((l) => l.includes("dashboard at http://"), ms)
  return /(http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]
}

export type Get = (path: string) => Promise<any>

/**
 * GET `path` as JSON. With `expectOk` the status must be 200 (an assertion
 * naming the path). A request whose keep-alive connection the server just
 * closed (a loaded machine) is tried again, twice.
 */
export const apiGet =
  (url: string, opts: { readonly expectOk?: boolean } = {}): Get =>
  async (path) => {
    for (let i = 0; ; i++) {
      let r: Response
      try {
        r = await fetch(url + path)
      } catch (e) {
        if (i >= 2) throw e
        await sleep(200)
        continue
      }
      if (opts.expectOk === true) expect(r.status, path).toBe(200)
      return r.json()
    }
  }

export interface LogEntry {
  readonly level: string
  readonly msg: string
  readonly [key: string]: unknown
}

/** The daemon's JSON log lines so far (other lines skipped). */
export const jsonLog = (d: Daemon): Array<LogEntry> =>
  d.stdout.flatMap((l) => {
    if (!l.startsWith("{")) return []
    try {
      return [JSON.parse(l) as LogEntry]
    } catch {
      return []
    }
  })

/** A failure message: `extra`, the last non-debug log lines and the end of stderr. */
export const diagnose = (d: Daemon, extra: unknown, lines = 30): string =>
  JSON.stringify({ extra, log: d.stdout.filter((l) => !l.includes('"debug"')).slice(-lines), stderr: d.stderr.slice(-10) }, null, 1)

/** SIGTERM, then waits for the exit (at most `ms`); resolves with the exit code (null: not exited or signalled). */
export const stopDaemon = async (d: Daemon, ms = 20_000): Promise<number | null> => {
  if (d.child.exitCode !== null) return d.child.exitCode
  d.kill("SIGTERM")
  const r = await Promise.race([d.exited, sleep(ms).then(() => null)])
  return r === null ? null : r.code
}

export interface ConfigDaemon {
  readonly daemon: Daemon
  /** The temporary directory with the configuration and its files. */
  readonly dir: string
  readonly url: string
  /** GET as JSON; the status must be 200. */
  readonly get: Get
  readonly log: () => Array<LogEntry>
  readonly why: (extra?: unknown) => string
  /** SIGTERM; the daemon must exit with code 0. */
  readonly stop: () => Promise<void>
}

/** Every daemon `startConfigDaemon` started in this test file; `killDaemons` in an afterAll ends what is left. */
const started: Array<Daemon> = []

export const killDaemons = (): void => {
  for (const d of started.splice(0)) if (d.child.exitCode === null) d.kill("SIGKILL")
}

/**
 * `dyncluster run --config DIR/dc.yaml --port 0 --log-format json --grace 1 ...args`
 * with `config` (an object: written as JSON, which is YAML; or YAML text)
 * and `files` (name → text, e.g. a scenario) in a fresh temporary directory
 * named after `tag`. `config` may be a function of that directory (for
 * hooks that write there).
 */
export const startConfigDaemon = async (opts: {
  readonly tag: string
  readonly config: object | string | ((dir: string) => object | string)
  readonly files?: Readonly<Record<string, string>>
  readonly args?: ReadonlyArray<string>
  readonly env?: Record<string, string>
  /** How long the start-up may take (default 45 s). */
  readonly startupMs?: number
}): Promise<ConfigDaemon> => {
  const dir = mkdtempSync(join(tmpdir(), `${opts.tag}-`))
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text)
  const config = typeof opts.config === "function" ? opts.config(dir) : opts.config
  const file = join(dir, "dc.yaml")
  writeFileSync(file, typeof config === "string" ? config : JSON.stringify(config, null, 1))
  const daemon = startDyncluster(["run", "--config", file, "--port", "0", "--log-format", "json", "--grace", "1", ...(opts.args ?? [])], opts.env)
  started.push(daemon)
  const url = await dashboardUrl(daemon, opts.startupMs ?? 45_000)
  return {
    daemon,
    dir,
    url,
    get: apiGet(url, { expectOk: true }),
    log: () => jsonLog(daemon),
    why: (extra) => diagnose(daemon, extra),
    stop: async () => {
      expect(await stopDaemon(daemon)).toBe(0)
    }
  }
}
