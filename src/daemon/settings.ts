/**
 * What the daemon needs besides the engine: where to listen, the API token,
 * how to log, the Graphite reporter. Resolved once at start from the
 * configuration, the command-line flags (which win) and the environment.
 */
import { Data, Either } from "effect"
import type { ConfigFile } from "../model/config.ts"
import { type Level, type LogFormat, parseLevel } from "./log.ts"

/** Start-up failed: bad flags, an unavailable live layer, an unreadable file. The message says what to fix. */
export class DaemonError extends Data.TaggedError("DaemonError")<{ readonly message: string }> {}

/** The environment variable that holds the API token (wins over admin-server.token, so the token can stay out of the file). */
export const TOKEN_ENV = "DYNCLUSTER_TOKEN"

export interface DaemonFlags {
  readonly port?: number | undefined
  readonly host?: string | undefined
  readonly logFormat?: string | undefined
  readonly logLevel?: string | undefined
}

export interface LogSettings {
  readonly level: Level
  readonly format: LogFormat
  readonly file: string | null
  readonly maxBytes: number
  /** Rotated files kept beside the current one. */
  readonly keep: number
}

export interface GraphiteSettings {
  readonly hostname: string
  readonly port: number
  readonly prefix: string
  /** Seconds between reports. */
  readonly interval: number
}

export interface TlsSettings {
  readonly certFile: string
  readonly keyFile: string
}

export interface DaemonSettings {
  readonly host: string
  readonly port: number
  /** HTTPS with these PEM files; null = plain HTTP. */
  readonly tls: TlsSettings | null
  readonly token: string | null
  readonly tokenSource: "config" | "environment" | null
  readonly tokenForReads: boolean
  readonly log: LogSettings
  readonly graphite: GraphiteSettings | null
}

export const ROTATED_LOG_FILES = 3
export const DEFAULT_GRAPHITE_INTERVAL = 30

export const resolveSettings = (
  config: ConfigFile,
  flags: DaemonFlags,
  env: Readonly<Record<string, string | undefined>>,
  stdoutIsTTY: boolean
): Either.Either<DaemonSettings, DaemonError> => {
  const problems: Array<string> = []
  const admin = config["dynamic-cluster"]["admin-server"]
  const port = flags.port ?? admin.port
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`--port: expected a TCP port number (0-65535), got ${flags.port}`)
  const host = flags.host ?? admin.host
  if (host.trim() === "" || /\s/.test(host)) problems.push(`--host: expected an address or host name to bind to, got ${JSON.stringify(host)}`)

  const envToken = env[TOKEN_ENV]
  const token = envToken !== undefined && envToken !== "" ? envToken : admin.token
  const tokenSource = envToken !== undefined && envToken !== "" ? "environment" : admin.token !== null ? "config" : null
  if (token !== null && /\s/.test(token)) problems.push(`${tokenSource === "environment" ? TOKEN_ENV : "dynamic-cluster.admin-server.token"}: a bearer token cannot contain blanks`)

  const logging = config.logging
  let level: Level | undefined = parseLevel(logging.log_level)
  if (flags.logLevel !== undefined) {
    level = parseLevel(flags.logLevel)
    if (level === undefined) problems.push(`--log-level: expected 0..3 or error, warn, info, debug, got ${JSON.stringify(flags.logLevel)}`)
  }
  let format: LogFormat = stdoutIsTTY && logging.log_location === null ? "text" : "json"
  if (flags.logFormat !== undefined) {
    if (flags.logFormat === "json" || flags.logFormat === "text") format = flags.logFormat
    else problems.push(`--log-format: expected json or text, got ${JSON.stringify(flags.logFormat)}`)
  }

  const g = config.plugins.graphite
  const graphite: GraphiteSettings | null =
    g === undefined
      ? null
      : { hostname: g.arguments.hostname, port: g.arguments.port, prefix: g.arguments.prefix, interval: g.interval ?? DEFAULT_GRAPHITE_INTERVAL }

  if (problems.length > 0) return Either.left(new DaemonError({ message: problems.join("\n") }))
  return Either.right({
    host,
    port,
    tls: admin.tls === undefined ? null : { certFile: admin.tls.cert_file, keyFile: admin.tls.key_file },
    token,
    tokenSource,
    tokenForReads: admin.token_for_reads,
    log: { level: level ?? "info", format, file: logging.log_location, maxBytes: logging.log_max_size, keep: ROTATED_LOG_FILES },
    graphite
  })
}
