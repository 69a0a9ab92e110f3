/**
 * The Grid Engine Cluster layer (SPEC §2–§3): command templates from
 * `cluster.config` run through the safe command runner with a timeout; every
 * failure or unparseable output is a ClusterError value.
 *
 * A cloud node joins in two steps, as in the first version: when its
 * instance is Active the exec host is declared (exec host entry, host group of
 * the account reservation or the default group, the queue reservation's slots)
 * with its queues disabled; when it is Ready its queues are enabled. The hosts
 * between the two steps are remembered here, because the view maps their
 * `u` (no execd yet) to Starting rather than Error.
 */
import { Clock, Effect, Either, Layer, Ref, Schema } from "effect"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cluster, ClusterError, type ClusterService, type ClusterView, type NewNode } from "../../engine/services.ts"
import type { ConfigFile } from "../../model/config.ts"
import type { Reservation } from "../../model/types.ts"
import { validateHostgroup, validateHostname, validateJobId, validateName } from "../command.ts"
import {
  checked,
  ClusterConfigError,
  clusterSettings,
  commonKeys,
  describeResult,
  makeRunner,
  parsedOutput,
  secondsKey,
  templateFields,
  type Runner
} from "../batch-commands.ts"
import { parseJobs } from "../parse-worker.ts"
import { isQueued, parseQconfSp, parseQconfSpl, parseQhost, sgeView, type AllocationRule } from "./parse.ts"

// ---------------------------------------------------------------- configuration

/**
 * The classic defaults (SPEC §2), paths under /usr/bin. One deliberate
 * difference: qstat lists every user's jobs (`-u *`); plain `qstat -xml -r`
 * only shows the jobs of the user the scaler runs as.
 */
export const SGE_DEFAULTS = {
  qstat_command: "/usr/bin/qstat -xml -r -u *",
  qhost_command: "/usr/bin/qhost -q -j -xml {0} {1}",
  hostgroup_command: "/usr/bin/qconf {0} hostgroup hostlist {1} {2}",
  qmod_command: "/usr/bin/qmod {0} *@{1}",
  remove_node_command: "/usr/bin/qconf -de {0}",
  set_slots_command: "/usr/bin/qconf -rattr queue slots {0} {1}@{2}",
  unset_slots_command: "/usr/bin/qconf -purge queue slots {0}@{1}",
  qconf_spl_command: "/usr/bin/qconf -spl",
  qconf_sp_command: "/usr/bin/qconf -sp {0}",
  qdel_command: "/usr/bin/qdel -f {0}",
  /** Declares the exec host from a file the scaler writes ({0}: its path). */
  add_exechost_command: "/usr/bin/qconf -Ae {0}"
} as const

export type SgeTemplate = keyof typeof SGE_DEFAULTS
const TEMPLATE_KEYS = Object.keys(SGE_DEFAULTS) as ReadonlyArray<SgeTemplate>

export const SgeConfig = Schema.Struct({
  ...templateFields(SGE_DEFAULTS),
  ...commonKeys,
  /**
   * The host group a node joins when its resource reserves no account (so a
   * queue serves it); null = none (the administrator's hooks place it).
   */
  default_hostgroup: Schema.optionalWith(
    Schema.NullOr(
      Schema.String.pipe(Schema.pattern(/^@[A-Za-z0-9_][A-Za-z0-9._-]*$/)).annotations({ message: () => "expected a host group name such as @allhosts" })
    ),
    { default: () => "@allhosts" }
  ),
  /** How long the allocation rules of the parallel environments are kept (seconds). */
  pe_cache_time: secondsKey(300)
})
export type SgeConfig = typeof SgeConfig.Type

export interface SgeSettings extends SgeConfig {
  readonly queue_to_monitor: ReadonlyArray<string>
}

export const sgeSettings = (config: ConfigFile): Either.Either<SgeSettings, ClusterConfigError> =>
  clusterSettings(SgeConfig, config, TEMPLATE_KEYS)

/** Configured qstat templates without `-u` only see the scaler's own jobs: worth a warning at start. */
export const sgeConfigWarnings = (s: SgeSettings): ReadonlyArray<string> =>
  /(^|\s)-u(\s|$)/.test(s.qstat_command)
    ? []
    : [`cluster.config.qstat_command (${s.qstat_command}) has no -u option: qstat then lists only the jobs of the user the scaler runs as; add -u '*'`]

export interface SgeLayerOptions {
  readonly env?: Readonly<Record<string, string>>
}

// ---------------------------------------------------------------- the service

const ALREADY = /already exists/i
const DOES_NOT_EXIST = /does not exist/i
const NO_PE = /no parallel environment/i
const NO_QUEUE = /invalid queue/i

/** The host group of a reservation's account (`physics` → `@physics`), else the default group. */
export const hostgroupFor = (s: Pick<SgeSettings, "default_hostgroup">, r: Reservation): string | null =>
  r.account !== null ? (r.account.startsWith("@") ? r.account : `@${r.account}`) : s.default_hostgroup

/** The exec host file for `qconf -Ae` (as in the recipe). */
export const exechostFile = (host: string) =>
  [
    `hostname ${host}`,
    "load_scaling NONE",
    "complex_values NONE",
    "user_lists NONE",
    "xuser_lists NONE",
    "projects NONE",
    "xprojects NONE",
    "usage_scaling NONE",
    "report_variables NONE",
    ""
  ].join("\n")

export const makeSgeClusterService = (s: SgeSettings, opts: SgeLayerOptions = {}): Effect.Effect<ClusterService> =>
  Effect.gen(function* () {
    const healthy = yield* Ref.make(false)
    /** Hosts declared at Active and not yet enabled at Ready. */
    const starting = yield* Ref.make(new Set<string>())
    /** Hosts this process declared (exec host, group, slots), so addNode does not repeat it. */
    const declared = yield* Ref.make(new Set<string>())
    const peCache = yield* Ref.make<{ readonly at: number; readonly rules: ReadonlyMap<string, AllocationRule> } | null>(null)
    const cmd: Runner<SgeTemplate> = makeRunner<SgeTemplate>(s, { timeoutMs: s.command_timeout * 1000, ...(opts.env ? { env: opts.env } : {}) })
    const host = (op: string, h: string) => checked(op, validateHostname(h))
    const update = (ref: Ref.Ref<Set<string>>, f: (s: Set<string>) => void) =>
      Ref.update(ref, (old) => {
        const next = new Set(old)
        f(next)
        return next
      })

    /** PE name → allocation rule, from qconf -spl / -sp, kept pe_cache_time seconds (refreshed early for an unknown PE). */
    const peRules = (wanted: ReadonlyArray<string>, now: number) =>
      Effect.gen(function* () {
        const cached = yield* Ref.get(peCache)
        if (cached !== null && now - cached.at < s.pe_cache_time && wanted.every((w) => cached.rules.has(w))) return cached.rules
        const refreshed = Effect.gen(function* () {
          const spl = yield* cmd.ok("query", "qconf_spl_command", [], NO_PE)
          const names = spl.exitCode === 0 ? yield* parsedOutput("query", "qconf -spl", parseQconfSpl(spl.stdout)) : []
          const rules = new Map<string, AllocationRule>()
          for (const name of names) {
            const sp = yield* cmd.ok("query", "qconf_sp_command", [name])
            const pe = yield* parsedOutput("query", `qconf -sp ${name}`, parseQconfSp(sp.stdout))
            rules.set(name, pe.allocationRule)
          }
          return rules as ReadonlyMap<string, AllocationRule>
        })
        const r = yield* Effect.either(refreshed)
        if (Either.isRight(r)) {
          yield* Ref.set(peCache, { at: now, rules: r.right })
          return r.right
        }
        // Rules a few minutes old are still right; without any, cores per node would be guessed.
        if (cached !== null) {
          yield* Effect.logWarning(`cannot refresh the parallel environments (${r.left.message}); using the ones read before`)
          return cached.rules
        }
        return yield* Effect.fail(r.left)
      })

    const query: Effect.Effect<ClusterView, ClusterError> = Effect.gen(function* () {
      const qh = yield* cmd.ok("query", "qhost_command", ["", ""])
      const hosts = yield* parsedOutput("query", "qhost -xml", parseQhost(qh.stdout))
      const qs = yield* cmd.ok("query", "qstat_command", [])
      const jobs = yield* parsedOutput("query", "qstat -xml", yield* Effect.either(parseJobs("sge qstat -xml", qs.stdout)))
      const now = (yield* Clock.currentTimeMillis) / 1000
      const pes = [...new Set(jobs.filter(isQueued).flatMap((j) => (j.pe === null ? [] : [j.pe.name])))]
      const rules = yield* peRules(pes, now)
      return sgeView(hosts, jobs, rules, s.queue_to_monitor, yield* Ref.get(starting))
    }).pipe(Effect.tapBoth({ onFailure: () => Ref.set(healthy, false), onSuccess: () => Ref.set(healthy, true) }))

    /** Exec host entry, host group and queue slots (each step idempotent). */
    const declare = (op: string, nn: NewNode) =>
      Effect.gen(function* () {
        const h = yield* host(op, nn.hostname)
        const group = hostgroupFor(s, nn.reservation)
        if (group !== null) yield* checked(op, validateHostgroup(group))
        if (nn.reservation.queue !== null) yield* checked(op, validateName(nn.reservation.queue))
        const cores = Math.floor(nn.cores)
        if (nn.reservation.queue !== null && !(cores > 0)) {
          return yield* Effect.fail(new ClusterError({ op, message: `${h}: expected a positive core count for the slots of ${nn.reservation.queue}, got ${nn.cores}` }))
        }
        yield* Effect.acquireUseRelease(
          Effect.tryPromise({
            try: () => mkdtemp(join(tmpdir(), "dyncluster-exechost-")),
            catch: (e) => new ClusterError({ op, message: `cannot write the exec host file: ${String(e)}` })
          }),
          (dir) =>
            Effect.gen(function* () {
              const file = join(dir, h)
              yield* Effect.tryPromise({
                try: () => writeFile(file, exechostFile(h)),
                catch: (e) => new ClusterError({ op, message: `cannot write the exec host file: ${String(e)}` })
              })
              yield* cmd.ok(op, "add_exechost_command", [file], ALREADY)
            }),
          (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
        )
        if (group !== null) yield* cmd.ok(op, "hostgroup_command", ["-aattr", h, group])
        if (nn.reservation.queue !== null) yield* cmd.ok(op, "set_slots_command", [String(cores), nn.reservation.queue, h])
        yield* update(declared, (d) => d.add(h))
        return h
      })

    const instanceActive = (nn: NewNode): Effect.Effect<void, ClusterError> => {
      const op = "instance active"
      return Effect.gen(function* () {
        const h = yield* host(op, nn.hostname)
        yield* update(starting, (st) => st.add(h))
        yield* declare(op, nn)
        // No jobs before the node is Ready: its queues start disabled.
        const d = yield* cmd.run(op, "qmod_command", ["-d", h])
        if (d.exitCode !== 0) yield* Effect.logWarning(`${h} has no queue instance to disable yet (${describeResult(d)})`)
        yield* Effect.logInfo(`declared exec host ${h} (queues disabled until it is ready)`)
      })
    }

    const addNode = (nn: NewNode): Effect.Effect<void, ClusterError> => {
      const op = "add node"
      return Effect.gen(function* () {
        const h = yield* host(op, nn.hostname)
        if (!(yield* Ref.get(declared)).has(h)) yield* declare(op, nn)
        yield* cmd.ok(op, "qmod_command", ["-e", h])
        yield* update(starting, (st) => st.delete(h))
        yield* Effect.logInfo(`enabled the queues of ${h}`)
      })
    }

    const holdNode = (hostname: string) =>
      Effect.flatMap(host("hold node", hostname), (h) => cmd.ok("hold node", "qmod_command", ["-d", h])).pipe(Effect.asVoid)
    const unholdNode = (hostname: string) =>
      Effect.flatMap(host("unhold node", hostname), (h) => cmd.ok("unhold node", "qmod_command", ["-e", h])).pipe(Effect.asVoid)

    const deleteJobs = (op: string, ids: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        for (const id of ids) yield* checked(op, validateJobId(id))
        const failures: Array<string> = []
        for (const id of ids) {
          const r = yield* Effect.either(cmd.ok(op, "qdel_command", [id], DOES_NOT_EXIST))
          if (Either.isLeft(r)) failures.push(r.left.message)
        }
        if (failures.length > 0) return yield* Effect.fail(new ClusterError({ op, message: failures.join("; ") }))
      })

    const vacateNode = (hostname: string, jobs: ReadonlyArray<string>): Effect.Effect<void, ClusterError> =>
      Effect.flatMap(host("vacate node", hostname), () => deleteJobs("vacate node", [...new Set(jobs.map((j) => j.trim()).filter((j) => j !== ""))]))

    const removeNode = (hostname: string, reservation: Reservation): Effect.Effect<void, ClusterError> => {
      const op = "remove node"
      return Effect.gen(function* () {
        const h = yield* host(op, hostname)
        const group = hostgroupFor(s, reservation)
        if (group !== null) yield* checked(op, validateHostgroup(group))
        if (reservation.queue !== null) yield* checked(op, validateName(reservation.queue))
        // No new job may start while the host is taken apart.
        yield* cmd.ok(op, "qmod_command", ["-d", h], NO_QUEUE)
        // All hosts, not `-h H`: qhost refuses a name that no longer resolves (a VM gone with its DNS entry).
        const qh = yield* cmd.ok(op, "qhost_command", ["", ""])
        const entry = (yield* parsedOutput(op, "qhost -xml", parseQhost(qh.stdout))).find((x) => x.name === h)
        if (entry !== undefined && entry.jobs.length > 0) {
          const dead = entry.queues.length > 0 && entry.queues.every((q) => q.state.includes("u"))
          if (!dead) return yield* Effect.fail(new ClusterError({ op, message: `${h} still runs job(s) ${entry.jobs.join(",")}` }))
          // The execd is gone: its jobs will never report back. Force them out.
          yield* Effect.logWarning(`${h} is unreachable with job(s) ${entry.jobs.join(",")}: force-deleting them`)
          yield* deleteJobs(op, entry.jobs)
        }
        if (reservation.queue !== null) yield* cmd.ok(op, "unset_slots_command", [reservation.queue, h])
        if (group !== null) yield* cmd.ok(op, "hostgroup_command", ["-dattr", h, group])
        yield* cmd.ok(op, "remove_node_command", [h], DOES_NOT_EXIST)
        yield* update(starting, (st) => st.delete(h))
        yield* update(declared, (d) => d.delete(h))
        yield* Effect.logInfo(`removed exec host ${h}`)
      })
    }

    const checkReservation = (hostname: string, reservation: Reservation): Effect.Effect<void, ClusterError> => {
      const op = "check reservation"
      return Effect.gen(function* () {
        const h = yield* host(op, hostname)
        const group = hostgroupFor(s, reservation)
        if (group === null) return
        yield* checked(op, validateHostgroup(group))
        // Idempotent: Grid Engine answers "already exists" when the host is in place.
        yield* cmd.ok(op, "hostgroup_command", ["-aattr", h, group])
      })
    }

    const service: ClusterService = {
      query,
      status: Effect.map(Ref.get(healthy), (ok) => ({ sge: ok })),
      instanceActive,
      addNode,
      removeNode,
      holdNode,
      unholdNode,
      vacateNode,
      checkReservation
    }
    return service
  })

/** The Cluster layer for `cluster.type: sge`; a bad cluster.config fails with the key path. */
export const makeSgeCluster = (config: ConfigFile, opts: SgeLayerOptions = {}): Layer.Layer<Cluster, ClusterConfigError> =>
  Layer.effect(
    Cluster,
    Effect.gen(function* () {
      const s = yield* Either.match(sgeSettings(config), { onLeft: Effect.fail, onRight: Effect.succeed })
      for (const w of sgeConfigWarnings(s)) yield* Effect.logWarning(w)
      return yield* makeSgeClusterService(s, opts)
    })
  )
