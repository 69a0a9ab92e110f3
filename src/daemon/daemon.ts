/**
 * What `dyncluster run` does once the engine is built, in sim and live mode
 * alike: serve the REST API, dashboard and /metrics, start the Graphite
 * reporter, run the engine loop until a signal, then shut down in order
 * (HTTP server closed, cloud tasks finished or abandoned, a last log line).
 */
import { Clock, Effect, Exit, Runtime, type Scope } from "effect"
import { type ActionError, type EngineApi, statusOf, withStamp, withStatus } from "../engine/api.ts"
import type { DecisionLog } from "../http/decisions.ts"
import { makeNodeHistory, sampleHistory } from "../http/history.ts"
import type { CycleHistogram } from "../http/metrics.ts"
import { readFileSync } from "node:fs"
import { createSecureContext } from "node:tls"
import { listenHttp, makeHttpApp, type TlsCertificate } from "../http/server.ts"
import { versionInfo, versionText } from "../cli/version.ts"
import { runGraphiteReporter } from "./graphite.ts"
import type { LogSink } from "./log.ts"
import { makeReloader, type ReloadTarget } from "./reload.ts"
import { DaemonError, type DaemonSettings, type TlsSettings } from "./settings.ts"

/** A built engine, ready to run: sim or live. */
export interface EngineRunner {
  /** What the API, the dashboard and the reporter read and act through. */
  readonly api: EngineApi
  /** Runs the engine until interrupted. */
  readonly loop: Effect.Effect<never>
  /** "simulated world quickstart at 20× real time", "torque cluster, 2 cloud resource(s)". */
  readonly description: string
  /** Reload without a restart (SIGHUP, PUT /server/config/reload); absent: not offered. */
  readonly reload?: ReloadTarget
}

/** Lines the shutdown finalizers leave for the last log line. */
export type ShutdownNotes = Array<string>

/**
 * An EngineApi whose operator actions call `after` when they succeed (the loop
 * wakes so their tasks start now) and whose every call goes through `around`
 * (the sim mode runs them at the world's virtual time).
 */
export const observedApi = (
  api: () => EngineApi,
  after: () => void,
  around: <A, E>(eff: Effect.Effect<A, E>) => Effect.Effect<A, E> = (e) => e
): EngineApi => {
  const act =
    <Args extends ReadonlyArray<unknown>>(f: (a: EngineApi) => (...args: Args) => Effect.Effect<void, ActionError>) =>
    (...args: Args): Effect.Effect<void, ActionError> =>
      around(Effect.suspend(() => f(api())(...args))).pipe(Effect.tap(() => Effect.sync(after)))
  const observed = withStamp({
    snapshot: around(Effect.suspend(() => api().snapshot)),
    config: Effect.suspend(() => api().config),
    hold: act((a) => a.hold),
    unhold: act((a) => a.unhold),
    vacate: act((a) => a.vacate),
    deleteNode: act((a) => a.deleteNode),
    launch: act((a) => a.launch),
    freeze: act((a) => a.freeze),
    restore: act((a) => a.restore),
    drain: act((a) => a.drain),
    setAuto: (on) => around(Effect.suspend(() => api().setAuto(on))).pipe(Effect.tap(() => Effect.sync(after)))
  },
  // The same snapshot, observed the same way: its stamp too (an engine without one: version null, nothing cached).
  around(Effect.suspend(() => api().stamp ?? Effect.map(Clock.currentTimeMillis, (ms) => ({ version: null, time: ms / 1000 })))))
  // The same status, without the snapshot when the engine has the light path.
  return withStatus(observed, around(Effect.suspend(() => statusOf(api()))))
}

export interface ServeOptions {
  readonly settings: DaemonSettings
  readonly log: LogSink
  readonly histogram: CycleHistogram
  readonly runner: EngineRunner
  /** The decision log the runner's engine feeds (onDecisions), for GET /server/decisions and /metrics. */
  readonly decisions?: DecisionLog
  /** Called with the URL once the server listens, right after the first log line (which names the dashboard's URL). */
  readonly onListening?: (url: string) => void
}

/**
 * Listens, logs the first line (the dashboard's URL), starts the reporter and
 * runs the engine loop. Never returns; interrupt it to stop. The HTTP server
 * closes when the enclosing scope does.
 */
export const serve = (opts: ServeOptions): Effect.Effect<never, DaemonError, Scope.Scope> =>
  Effect.gen(function* () {
    const { settings, log, runner } = opts
    // Node and core counts over time for the dashboard (GET /server/history), in the engine's clock.
    const history = makeNodeHistory()
    yield* Effect.forkScoped(sampleHistory(runner.api, history))
    const tls = settings.tls === null ? null : yield* readCertificate(settings.tls)
    let setCertificate: ((c: TlsCertificate) => void) | null = null
    // SIGHUP reads the certificate and key again (a renewed certificate without a restart); a bad pair keeps the old one.
    const certificateReload = () =>
      settings.tls === null || setCertificate === null
        ? null
        : Effect.flatMap(readCertificate(settings.tls), (c) =>
            Effect.try({ try: () => setCertificate!(c), catch: (e) => `cannot use it: ${(e as Error).message}` }).pipe(
              Effect.as(`reloaded from ${settings.tls!.certFile}`)
            )
          ).pipe(Effect.mapError((e) => (typeof e === "string" ? e : e.message)))
    const reload = runner.reload !== undefined ? yield* makeReloader(runner.reload, log, certificateReload) : null
    const app = makeHttpApp(runner.api, {
      token: settings.token,
      tokenForReads: settings.tokenForReads,
      cycleHistogram: opts.histogram,
      history,
      ...(opts.decisions !== undefined ? { decisions: opts.decisions } : {}),
      ...(reload !== null ? { reload: () => reload("PUT /server/config/reload") } : {})
    })
    let listening = false
    // Added before the server, so it runs after the server's own finalizer has closed it.
    yield* Effect.addFinalizer(() => Effect.sync(() => listening && log.log("info", "HTTP server closed")))
    const bound = yield* listenHttp(app, { host: settings.host, port: settings.port, ...(tls !== null ? { tls } : {}) }).pipe(
      Effect.mapError((e) => new DaemonError({ message: `cannot serve the API on ${settings.host}:${settings.port}: ${causeText(e.cause)}` }))
    )
    listening = true
    const { url, port } = bound
    setCertificate = bound.setCertificate
    log.log("info", `dashboard at ${url}/dashboard (REST API at ${url}/, metrics at ${url}/metrics)`, {
      url,
      port,
      dashboard: `${url}/dashboard`
    })
    opts.onListening?.(url)
    const v = versionInfo()
    log.log("info", `dyncluster ${versionText(v)} running ${runner.description}`, { version: v.version, commit: v.commit })
    log.log("debug", "daemon settings", {
      host: settings.host,
      port: settings.port,
      // (keys naming a token are dropped from log lines, so the protection is described in other words)
      protection: settings.token === null ? "none" : `bearer (from the ${settings.tokenSource}) for ${settings.tokenForReads ? "all requests" : "PUT and DELETE"}`,
      log: settings.log,
      graphite: settings.graphite
    })
    if (settings.token !== null) {
      log.log("info", `the API asks for a bearer token (from ${settings.tokenSource === "environment" ? "the environment" : "the configuration"}) for ${settings.tokenForReads ? "every request" : "PUT and DELETE"}`)
    } else if (!isLoopback(settings.host)) {
      log.log("warn", `the API listens on ${settings.host} without a token: anyone who can reach it can change the cluster (set admin-server.token or DYNCLUSTER_TOKEN)`)
    }
    if (tls !== null) log.log("info", `the API is served over HTTPS with the certificate ${settings.tls!.certFile}`)
    else if (!isLoopback(settings.host)) {
      log.log("warn", `the API listens on ${settings.host} over plain HTTP: the token and every answer cross the network unencrypted (set admin-server.tls: {cert_file, key_file}, or put a TLS proxy in front)`)
    }
    if (reload !== null) {
      // SIGHUP (systemctl reload): re-read the configuration. Node would otherwise end the process.
      const runtime = yield* Effect.runtime<never>()
      const onHup = () => void Runtime.runFork(runtime)(reload("SIGHUP"))
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("SIGHUP", onHup)),
        () => Effect.sync(() => process.off("SIGHUP", onHup))
      )
    }
    if (settings.graphite !== null) {
      const g = settings.graphite
      log.log("info", `graphite: sending node counts to ${g.hostname}:${g.port} as ${g.prefix}.* every ${g.interval}s`)
      yield* Effect.forkScoped(runGraphiteReporter(runner.api.snapshot, g, log))
    }
    return yield* runner.loop
  })

const causeText = (cause: unknown): string => {
  const e = cause as NodeJS.ErrnoException | undefined
  if (e?.code === "EADDRINUSE") return "the address is already in use (another dyncluster? pick another --port)"
  if (e?.code === "EACCES") return "permission denied (ports below 1024 need privileges)"
  if (e?.code === "EADDRNOTAVAIL") return "no such local address"
  if (e?.code === "ENOTFOUND") return "unknown host name"
  return e?.message ?? String(cause)
}

/** The PEM certificate and key of admin-server.tls, checked as a pair; a message naming the key path otherwise. */
export const readCertificate = (t: TlsSettings): Effect.Effect<TlsCertificate, DaemonError> =>
  Effect.gen(function* () {
    const read = (path: string, key: string) =>
      Effect.try({
        try: () => readFileSync(path),
        catch: (e) => {
          const code = (e as NodeJS.ErrnoException).code
          const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (e as Error).message
          return new DaemonError({ message: `dynamic-cluster.admin-server.tls.${key}: ${path}: ${why}` })
        }
      })
    const cert = yield* read(t.certFile, "cert_file")
    const key = yield* read(t.keyFile, "key_file")
    yield* Effect.try({
      try: () => createSecureContext({ cert, key }),
      catch: (e) => new DaemonError({ message: `dynamic-cluster.admin-server.tls: ${t.certFile} and ${t.keyFile} are not a PEM certificate and its private key: ${(e as Error).message}` })
    })
    return { cert, key }
  })

export const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || /^127\./.test(host)

/**
 * Runs `main` in a scope with an orderly stop: on interruption (SIGTERM,
 * SIGINT through NodeRuntime.runMain) the scope's finalizers run in reverse
 * order, and the last line says how the daemon stopped. A watchdog ends the
 * process if the stop hangs.
 */
export const withLifecycle = <A, E>(
  log: LogSink,
  notes: ShutdownNotes,
  watchdogSeconds: number,
  main: Effect.Effect<A, E, Scope.Scope>
): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    let signal: string | null = null
    const onSignal = (s: NodeJS.Signals) => {
      signal ??= s
    }
    process.on("SIGTERM", onSignal)
    process.on("SIGINT", onSignal)
    return yield* Effect.scoped(
      Effect.gen(function* () {
        yield* Effect.addFinalizer((exit) =>
          Effect.sync(() => {
            process.off("SIGTERM", onSignal)
            process.off("SIGINT", onSignal)
            // A failure here is a start-up error: the caller reports it, the daemon never ran.
            if (Exit.isFailure(exit) && !Exit.isInterrupted(exit)) return
            const how = Exit.isInterrupted(exit) ? `on ${signal ?? "request"}` : "normally"
            log.log("info", `dyncluster stopped ${how}${notes.length > 0 ? `: ${notes.join("; ")}` : ""}`)
          })
        )
        return yield* main.pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              log.log("info", `stopping (${signal ?? "interrupted"}): closing the HTTP server and finishing cloud tasks`)
              const t = setTimeout(() => {
                log.log("error", `shutdown did not finish within ${watchdogSeconds}s; exiting anyway`)
                process.exit(1)
              }, watchdogSeconds * 1000)
              t.unref()
            })
          )
        )
      })
    )
  })
