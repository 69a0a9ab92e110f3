/**
 * The daemon's log: one line per event, human-readable text on a terminal and
 * JSON lines otherwise (or as asked), filtered by level (config
 * `logging.log_level`: 0 error .. 3 debug), written to stdout or to a file
 * that rotates by size (`log_location`, `log_max_size`).
 *
 * Secrets never reach a line: fields whose key names a secret are dropped
 * (redactSecrets), and every secret value the daemon knows (the API token,
 * passwords and keys of the configuration) is masked wherever it appears.
 */
import { closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, writeSync } from "node:fs"
import { Cause, Data, HashMap, Logger, LogLevel } from "effect"
import { redactSecrets } from "../model/config.ts"

export const LEVELS = ["error", "warn", "info", "debug"] as const
export type Level = (typeof LEVELS)[number]
export type LogFormat = "text" | "json"

export interface LogSinkOptions {
  readonly level: Level
  readonly format: LogFormat
  /** Write to this file (rotated by size) instead of `out`. */
  readonly file?: string | null
  /** Rotate the file before it would grow beyond this many bytes. */
  readonly maxBytes?: number
  /** Rotated files kept (FILE.1 .. FILE.N); default 3. */
  readonly keep?: number
  /** Values that must never appear in a line. */
  readonly secrets?: ReadonlyArray<string>
  /** Where lines go without a file (default: process.stdout). */
  readonly out?: (line: string) => void
  /** Wall-clock milliseconds for the line's timestamp (default Date.now: log timestamps are real time, never engine time). */
  readonly now?: () => number
}

export interface LogSink {
  readonly log: (level: Level, msg: string, fields?: Readonly<Record<string, unknown>>) => void
  readonly enabled: (level: Level) => boolean
  /** Flushes and closes the file, if any. Later lines are dropped. */
  readonly close: () => void
  readonly options: LogSinkOptions
}

/** The log file cannot be opened (thrown by makeLogSink; the message names the path). */
export class LogFileError extends Data.TaggedError("LogFileError")<{ readonly message: string }> {}

/** Config `log_level` (0..3) or a name → a level; undefined when not recognised. */
export const parseLevel = (v: string | number): Level | undefined => {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 && v <= 3 ? LEVELS[v] : undefined
  const s = v.trim().toLowerCase()
  if (/^[0-3]$/.test(s)) return LEVELS[Number(s)]
  if (s === "warning") return "warn"
  return (LEVELS as ReadonlyArray<string>).includes(s) ? (s as Level) : undefined
}

/** Secrets shorter than this are not masked (masking "a" would garble every line); the daemon warns about them. */
export const MIN_MASKED_SECRET = 4

const mask = (line: string, secrets: ReadonlyArray<string>): string => {
  let out = line
  for (const s of secrets) {
    if (s.length < MIN_MASKED_SECRET) continue
    out = out.split(s).join("***")
    const escaped = JSON.stringify(s).slice(1, -1)
    if (escaped !== s) out = out.split(escaped).join("***")
  }
  return out
}

const textValue = (v: unknown): string => {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v)
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

export const formatLine = (format: LogFormat, time: number, level: Level, msg: string, fields: Readonly<Record<string, unknown>>): string => {
  const iso = new Date(time).toISOString()
  const clean = redactSecrets(fields) as Record<string, unknown>
  if (format === "json") {
    let body: string
    try {
      body = JSON.stringify({ time: iso, level, msg, ...omit(clean, ["time", "level", "msg"]) })
    } catch {
      body = JSON.stringify({ time: iso, level, msg })
    }
    return body + "\n"
  }
  // Text is for people: a field whose value the message already says is not repeated.
  const extra = Object.entries(clean)
    .filter(([, v]) => v !== undefined && !((typeof v === "string" || typeof v === "number") && msg.includes(String(v))))
    .map(([k, v]) => ` ${k}=${textValue(v)}`)
    .join("")
  // Multi-line messages (a cause with its trace) stay one entry: continuation lines are indented.
  return `${iso} ${level.toUpperCase().padEnd(5)} ${msg.replace(/\n/g, "\n    ")}${extra}\n`
}

const omit = (o: Record<string, unknown>, keys: ReadonlyArray<string>) => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k)) out[k] = v
  return out
}

/**
 * A file that is rotated before it would exceed `maxBytes`: FILE → FILE.1 →
 * FILE.2 ... → FILE.keep (the oldest is deleted). Writes are synchronous so a
 * line is on disk before the daemon moves on (and before it exits).
 */
export class RotatingFile {
  private fd: number
  private size: number
  constructor(
    readonly path: string,
    readonly maxBytes: number,
    readonly keep: number
  ) {
    this.fd = RotatingFile.open(path)
    this.size = fstatSync(this.fd).size
  }

  private static open(path: string): number {
    try {
      return openSync(path, "a", 0o640)
    } catch (e) {
      const err = e as NodeJS.ErrnoException
      const why =
        err.code === "ENOENT" ? "its directory does not exist" : err.code === "EACCES" ? "permission denied" : err.code === "EISDIR" ? "it is a directory" : err.message
      throw new LogFileError({ message: `cannot open the log file ${path}: ${why}` })
    }
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line)
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate()
    writeSync(this.fd, line)
    this.size += bytes
  }

  private rotate(): void {
    closeSync(this.fd)
    if (this.keep <= 0) rmSync(this.path, { force: true })
    else {
      rmSync(`${this.path}.${this.keep}`, { force: true })
      for (let i = this.keep - 1; i >= 1; i--) {
        if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`)
      }
      renameSync(this.path, `${this.path}.1`)
    }
    this.fd = RotatingFile.open(this.path)
    this.size = 0
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd)
    this.fd = -1
  }
}

export const makeLogSink = (options: LogSinkOptions): LogSink => {
  const threshold = LEVELS.indexOf(options.level)
  const now = options.now ?? Date.now
  const secrets = [...new Set(options.secrets ?? [])].sort((a, b) => b.length - a.length)
  const file = options.file ? new RotatingFile(options.file, options.maxBytes ?? 10 * 1024 * 1024, options.keep ?? 3) : null
  const out = options.out ?? ((line: string) => void process.stdout.write(line))
  let closed = false
  const enabled = (level: Level) => LEVELS.indexOf(level) <= threshold
  return {
    options,
    enabled,
    log: (level, msg, fields = {}) => {
      if (closed || !enabled(level)) return
      const line = mask(formatLine(options.format, now(), level, msg, fields), secrets)
      if (file !== null) {
        try {
          file.write(line)
          return
        } catch (e) {
          // A full disk must not stop the scaler: say so on stderr once per failure and go on.
          process.stderr.write(`dyncluster: cannot write the log file ${file.path}: ${(e as Error).message}\n`)
        }
      }
      out(line)
    },
    close: () => {
      closed = true
      file?.close()
    }
  }
}

const effectLevel = (l: LogLevel.LogLevel): Level =>
  LogLevel.greaterThanEqual(l, LogLevel.Error) ? "error" : LogLevel.greaterThanEqual(l, LogLevel.Warning) ? "warn" : LogLevel.greaterThanEqual(l, LogLevel.Info) ? "info" : "debug"

/** Effect's own log calls (Effect.logError in the task runner, the HTTP layer) go to the same sink. */
export const effectLogger = (sink: LogSink): Logger.Logger<unknown, void> =>
  Logger.make(({ logLevel, message, cause, annotations }) => {
    if (logLevel._tag === "None") return
    const level = effectLevel(logLevel)
    if (!sink.enabled(level)) return
    const parts = Array.isArray(message) ? message : [message]
    const msg = parts.map((p) => (typeof p === "string" ? p : p instanceof Error ? (p.stack ?? p.message) : textValue(p))).join(" ")
    const fields: Record<string, unknown> = {}
    for (const [k, v] of HashMap.toEntries(annotations)) fields[k] = v
    if (!Cause.isEmpty(cause)) fields.cause = Cause.pretty(cause)
    sink.log(level, msg, fields)
  })

/** Every secret value in a configuration-shaped document (keys naming password/secret/token), for masking. */
export const secretValues = (doc: unknown): Array<string> => {
  const out: Array<string> = []
  const walk = (v: unknown, secretKey: boolean) => {
    if (typeof v === "string") {
      if (secretKey && v.length > 0) out.push(v)
    } else if (Array.isArray(v)) v.forEach((x) => walk(x, secretKey))
    else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, secretKey || /password|secret|token/i.test(k))
    }
  }
  walk(doc, false)
  return out
}
