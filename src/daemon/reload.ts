/**
 * Reload without a restart: on SIGHUP (`systemctl reload dyncluster`) and
 * `PUT /server/config/reload` the daemon re-reads its configuration (the
 * `--config` file, or the `--sim` scenario's `config`), validates it as a
 * start would, and either applies what can change while running
 * (src/engine/reconfigure.ts) or, when anything is wrong, changes nothing
 * and logs every problem with its key path. Nodes, instances and back-off
 * survive. The TLS certificate of the admin API is read again too.
 * docs/install.md, "Reload".
 */
import { Effect } from "effect"
import type { Reconfiguration } from "../engine/reconfigure.ts"
import type { ConfigFile } from "../model/config.ts"

/** A configuration read again: decoded, and as written (for GET /server/config). */
export interface ReadConfig {
  readonly config: ConfigFile
  readonly document: unknown
}
import type { LogSink } from "./log.ts"

/** What a runner (sim or live) offers for a reload. */
export interface ReloadTarget {
  /** The file that is read again. */
  readonly file: string
  /** Reads and validates the file: the configuration, or every problem (with its key path). */
  readonly read: Effect.Effect<ReadConfig, ReadonlyArray<string>>
  /**
   * Applies a valid configuration to the running engine. Fails with the
   * problems when something it needs cannot be prepared (a new resource's
   * cloud client), and then nothing has changed. On success the as-written
   * view (GET /server/config) follows the new document.
   */
  readonly apply: (next: ReadConfig) => Effect.Effect<Reconfiguration, ReadonlyArray<string>>
}

export interface ReloadOutcome {
  /** false: the file was refused, the daemon runs on as before. */
  readonly ok: boolean
  readonly file: string
  /** Why the file was refused, each with its key path. */
  readonly problems: ReadonlyArray<string>
  /** What changed and is in effect. */
  readonly changes: ReadonlyArray<string>
  /** What changed in the file but takes effect only at the next start. */
  readonly restart: ReadonlyArray<string>
  /** The admin API's certificate: "reloaded", "unchanged" (no TLS) or why it was kept. */
  readonly tls: string | null
}

/** Re-reads the TLS certificate and key; fails with the reason, keeping the old ones. */
export type CertificateReload = Effect.Effect<string, string>

/**
 * One reload at a time (a SIGHUP during a PUT waits for it). `trigger` is
 * "SIGHUP" or "PUT /server/config/reload", for the log.
 */
export const makeReloader = (target: ReloadTarget, log: LogSink, certificateOf: () => CertificateReload | null) =>
  Effect.map(Effect.makeSemaphore(1), (lock) => (trigger: string): Effect.Effect<ReloadOutcome> =>
    lock.withPermits(1)(
      Effect.gen(function* () {
        log.log("info", `reload (${trigger}): reading ${target.file}`, { file: target.file })
        const certificate = certificateOf()
        const tls =
          certificate === null
            ? null
            : yield* certificate.pipe(
                Effect.tap((m) => Effect.sync(() => log.log("info", `reload: TLS certificate ${m}`))),
                Effect.catchAll((why) =>
                  Effect.sync(() => {
                    log.log("error", `reload: TLS certificate not reloaded, the API keeps the previous one: ${why}`)
                    return `kept the previous one: ${why}`
                  })
                )
              )
        const refused = (problems: ReadonlyArray<string>): ReloadOutcome => {
          for (const p of problems) log.log("error", `reload refused: ${p}`, { file: target.file })
          log.log("error", `reload refused: ${target.file} has ${problems.length} problem(s); still running on the previous configuration`, {
            file: target.file,
            problems: problems.length
          })
          return { ok: false, file: target.file, problems, changes: [], restart: [], tls }
        }
        const next = yield* Effect.either(target.read)
        if (next._tag === "Left") return refused(next.left)
        const applied = yield* Effect.either(target.apply(next.right))
        if (applied._tag === "Left") return refused(applied.left)
        const r = applied.right
        for (const p of r.restart) log.log("warn", `reload: ${p} changed: takes effect at the next start (systemctl restart dyncluster)`, { file: target.file })
        log.log("info", `reloaded ${target.file}: ${r.changes.length} change(s) in effect${r.restart.length > 0 ? `, ${r.restart.length} waiting for a restart` : ""}`, {
          file: target.file,
          changes: r.changes.length,
          restart: r.restart.length
        })
        return { ok: true, file: target.file, problems: [], changes: r.changes, restart: r.restart, tls }
      })
    )
  )

/** Drains every resource a reload found gone from the file (min = max = 0: nodes held, then removed as their jobs end). */
export const drainRemoved = (r: Reconfiguration, drain: (resource: string) => Effect.Effect<void, { readonly message: string }>, log: LogSink) =>
  Effect.forEach(
    r.removed,
    (name) => drain(name).pipe(Effect.catchAll((e) => Effect.sync(() => log.log("error", `reload: could not drain ${name}: ${e.message}`, { resource: name })))),
    { discard: true }
  )
