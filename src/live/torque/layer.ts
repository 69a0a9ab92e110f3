/**
 * The Torque/Maui Cluster layer (SPEC §2–§3): every batch-system operation is
 * a command template from `cluster.config`, run through the safe command
 * runner with a timeout; every failure or unparseable output is a
 * ClusterError value, so the engine keeps its last view.
 */
import { Clock, Effect, Either, Layer, Ref, Schema } from "effect"
import { Cluster, ClusterError, type ClusterNode, type ClusterService, type ClusterView, type NewNode } from "../../engine/services.ts"
import type { ConfigFile } from "../../model/config.ts"
import type { Reservation } from "../../model/types.ts"
import { validateHostname, validateJobId, validateName } from "../command.ts"
import { parseJobs } from "../parse-worker.ts"
import { parseCheckNode, parseDiagnoseP, parsePbsnodes, parseShowres, priorityMap, torqueView, type CheckNode, type PbsNode } from "./parse.ts"
import {
  checked,
  ClusterConfigError,
  clusterSettings,
  commonKeys,
  countKey,
  deadline,
  makeRunner,
  NotYet,
  parsedOutput,
  retryFew,
  secondsKey,
  templateFields,
  waitUntil,
  type Runner
} from "../batch-commands.ts"

// ---------------------------------------------------------------- configuration

/** The classic defaults (SPEC §2), paths under /usr/bin. */
export const TORQUE_DEFAULTS = {
  qstat_command: "/usr/bin/qstat -x -t",
  pbsnodes_command: "/usr/bin/pbsnodes {0} {1}",
  add_node_command: '/usr/bin/qmgr -c "create node {0}"',
  check_node_command: "/usr/bin/checknode {0}",
  remove_node_command: '/usr/bin/qmgr -c "delete node {0}"',
  set_node_command: '/usr/bin/qmgr -c "set node {0} {1} {2} {3}"',
  diagnose_p_command: "/usr/bin/diagnose -p",
  showres_command: "/usr/bin/showres -n | grep {0}",
  setres_command: "/usr/bin/setres {0} {1} {2}",
  releaseres_command: "/usr/bin/releaseres `/usr/bin/showres -n | grep User | grep {0} | grep {1} | awk '{{print $3}}' `",
  delete_job_command: "/usr/bin/qdel -p {0}",
  signal_job_command: "/usr/bin/qsig -s {0} {1}"
} as const

export type TorqueTemplate = keyof typeof TORQUE_DEFAULTS
const TEMPLATE_KEYS = Object.keys(TORQUE_DEFAULTS) as ReadonlyArray<TorqueTemplate>

export const TorqueConfig = Schema.Struct({
  ...templateFields(TORQUE_DEFAULTS),
  ...commonKeys,
  /** Longest an addNode may take, waiting for Maui included. */
  add_node_timeout: secondsKey(120),
  /** Longest a removeNode may wait for Maui to report the node drained, down or gone. */
  remove_node_timeout: secondsKey(120),
  /** How many checknode commands run at once during a query. */
  checknode_concurrency: countKey(8),
  /**
   * A node whose pbsnodes entry (state and jobs) has not changed may keep its
   * last checknode answer this long (seconds; 0 = ask Maui about every node
   * at every poll, as the first version did). Offline and down nodes are
   * always asked, since Maui moves them on (draining → drained) without
   * pbs_server noticing.
   */
  checknode_max_age: Schema.optionalWith(
    Schema.Number.pipe(Schema.nonNegative()).annotations({ message: () => "expected a non-negative number (seconds)" }),
    { default: () => 60 }
  )
})
export type TorqueConfig = typeof TorqueConfig.Type

export interface TorqueSettings extends TorqueConfig {
  readonly queue_to_monitor: ReadonlyArray<string>
}

/** The Torque settings of a configuration (defaults where a key is absent). */
export const torqueSettings = (config: ConfigFile): Either.Either<TorqueSettings, ClusterConfigError> =>
  clusterSettings(TorqueConfig, config, TEMPLATE_KEYS)

export interface TorqueLayerOptions {
  /** Extra environment for every command (tests point the templates at recorded outputs). */
  readonly env?: Readonly<Record<string, string>>
}

// ---------------------------------------------------------------- the service

const NO_NODES = /no nodes found/i
const UNKNOWN_NODE = /unknown node|cannot locate node|no such node/i
const ALREADY = /already exists/i
const UNKNOWN_JOB = /unknown job|job has finished|invalid state for job - complete/i
/** Maui states in which a node may be deleted (SPEC §3 "remove it from the cluster"). */
const GONE_ENOUGH = new Set(["drained", "down", "gone"])

/** A standing reservation `name` on `host`: Maui names them NAME.N (or NAME). */
const hasReservation = (rows: ReadonlyArray<{ readonly reservationId: string; readonly type: string }>, name: string) =>
  rows.some((r) => r.reservationId === name || r.reservationId.startsWith(`${name}.`))

/** `0/13` → `13`; `0-3/673175[19]` → `673175[19]`. */
const jobOfSlot = (s: string) => {
  const i = s.indexOf("/")
  return (i >= 0 ? s.slice(i + 1) : s).trim()
}

export const makeTorqueClusterService = (s: TorqueSettings, opts: TorqueLayerOptions = {}): Effect.Effect<ClusterService> =>
  Effect.gen(function* () {
    const health = yield* Ref.make<{ torque: boolean; maui: boolean }>({ torque: false, maui: false })
    /** Last checknode answer per node, with the pbsnodes entry it was given for. */
    const checkCache = yield* Ref.make(new Map<string, { readonly key: string; readonly at: number; readonly check: CheckNode; readonly since: number | null }>())
    const cmd: Runner<TorqueTemplate> = makeRunner<TorqueTemplate>(s, {
      timeoutMs: s.command_timeout * 1000,
      ...(opts.env ? { env: opts.env } : {})
    })
    const setHealth = (part: "torque" | "maui", ok: boolean) => Ref.update(health, (h) => ({ ...h, [part]: ok }))
    const host = (op: string, h: string) => checked(op, validateHostname(h))
    const name = (op: string, n: string) => checked(op, validateName(n))

    /** checknode HOST: Maui's state ("gone" when Maui does not know the node). Fails when Maui cannot answer. */
    const checknode = (op: string, h: string): Effect.Effect<CheckNode, ClusterError> =>
      Effect.flatMap(cmd.run(op, "check_node_command", [h]), (r) => {
        const p = parseCheckNode(`${r.stdout}\n${r.stderr}`)
        if (Either.isRight(p) && (r.exitCode === 0 || p.right.state === "gone")) return Effect.succeed(p.right)
        const why = r.exitCode !== 0 ? `exit code ${r.exitCode}: ${(r.stderr || r.stdout).trim().slice(0, 300)}` : Either.isLeft(p) ? p.left.message : ""
        return Effect.fail(new ClusterError({ op, message: `checknode ${h} failed (${why})` }))
      })

    /** Torque part of a query: nodes and jobs. */
    const torquePart = Effect.gen(function* () {
      const pbs = yield* cmd.run("query", "pbsnodes_command", ["-x", ""])
      let nodesText = pbs.stdout
      if (pbs.exitCode !== 0) {
        if (!NO_NODES.test(pbs.stderr)) {
          return yield* Effect.fail(new ClusterError({ op: "query", message: `pbsnodes -x failed with exit code ${pbs.exitCode}: ${pbs.stderr.trim().slice(0, 300)}` }))
        }
        nodesText = ""
      }
      const nodes = yield* parsedOutput("query", "pbsnodes -x", parsePbsnodes(nodesText))
      const qstat = yield* cmd.ok("query", "qstat_command", [])
      const jobs = yield* parsedOutput("query", "qstat", yield* Effect.either(parseJobs("torque qstat -x", qstat.stdout)))
      return { nodes, jobs }
    })

    /** Maui part: priorities and every node's scheduler state (with when it entered it). */
    const mauiPart = (nodes: ReadonlyArray<PbsNode>, now: number) =>
      Effect.gen(function* () {
        const diag = yield* cmd.ok("query", "diagnose_p_command", [])
        const prios = yield* parsedOutput("query", "diagnose -p", parseDiagnoseP(diag.stdout))
        const cache = yield* Ref.get(checkCache)
        const checks = yield* Effect.forEach(
          nodes,
          (n) => {
            const key = `${n.state}|${n.jobs.join(",")}`
            const hit = cache.get(n.name)
            const settled = !/offline|down/i.test(n.state)
            if (hit !== undefined && hit.key === key && settled && now - hit.at < s.checknode_max_age) return Effect.succeed([n.name, hit] as const)
            // A node name we would not pass to a command: its state comes from pbsnodes alone.
            if (Either.isLeft(validateHostname(n.name))) return Effect.succeed(null)
            return Effect.map(checknode("query", n.name), (check) => {
              const since = check.secondsInState === null ? null : now - check.secondsInState
              return [n.name, { key, at: now, check, since }] as const
            })
          },
          { concurrency: s.checknode_concurrency }
        )
        const fresh = new Map(checks.filter((c) => c !== null))
        yield* Ref.set(checkCache, fresh)
        return { prios, checks: fresh }
      })

    const query: Effect.Effect<ClusterView, ClusterError> = Effect.gen(function* () {
      const t = yield* torquePart.pipe(Effect.tapBoth({ onFailure: () => setHealth("torque", false), onSuccess: () => setHealth("torque", true) }))
      const now = (yield* Clock.currentTimeMillis) / 1000
      const m = yield* mauiPart(t.nodes, now).pipe(
        Effect.tapBoth({ onFailure: () => setHealth("maui", false), onSuccess: () => setHealth("maui", true) })
      )
      const byHost = new Map([...m.checks].map(([h, c]) => [h, c.check]))
      const view = torqueView(t.nodes, byHost, t.jobs, priorityMap(m.prios), s.queue_to_monitor)
      const nodes = view.nodes.map((n): ClusterNode => {
        const since = m.checks.get(n.hostname)?.since
        return since === null || since === undefined ? n : { ...n, since }
      })
      return { nodes, jobs: view.jobs }
    })

    /** showres for one host: its reservations (none when grep found nothing). */
    const reservationsOf = (op: string, h: string) =>
      Effect.gen(function* () {
        const r = yield* cmd.run(op, "showres_command", [h])
        // `showres -n | grep HOST` exits 1 with no output when the host has no reservation.
        if (r.exitCode !== 0 && !(r.exitCode === 1 && r.stdout.trim() === "" && r.stderr.trim() === "")) {
          return yield* Effect.fail(new ClusterError({ op, message: `showres for ${h} failed with exit code ${r.exitCode}: ${(r.stderr || r.stdout).trim().slice(0, 300)}` }))
        }
        const byNode = yield* parsedOutput(op, "showres -n", parseShowres(r.stdout))
        return byNode.get(h) ?? []
      })

    const setres = (op: string, h: string, kind: "-q" | "-a", resName: string) =>
      retryFew(cmd.ok(op, "setres_command", [kind, resName, h]), 4, s.retry_interval)

    const addNode = (nn: NewNode): Effect.Effect<void, ClusterError> => {
      const op = "add node"
      return Effect.gen(function* () {
        const h = yield* host(op, nn.hostname)
        const cores = Math.floor(nn.cores)
        if (!(cores > 0)) return yield* Effect.fail(new ClusterError({ op, message: `${h}: expected a positive core count, got ${nn.cores}` }))
        const { queue, account, property } = nn.reservation
        if (queue !== null) yield* name(op, queue)
        if (account !== null) yield* name(op, account)
        if (property !== null) yield* name(op, property)
        yield* retryFew(cmd.ok(op, "add_node_command", [h], ALREADY), 4, s.retry_interval)
        yield* cmd.ok(op, "set_node_command", [h, "np", "=", String(cores)])
        yield* waitUntil(
          op,
          `Maui knowing ${h}`,
          Effect.flatMap(checknode(op, h), (c) => (c.state === "gone" ? Effect.fail(new NotYet({ message: `Maui cannot locate ${h} yet` })) : Effect.void)),
          s.add_node_timeout,
          s.retry_interval
        )
        if (queue !== null) yield* setres(op, h, "-q", queue)
        if (account !== null) yield* setres(op, h, "-a", account)
        if (property !== null) yield* cmd.ok(op, "set_node_command", [h, "properties", "=", property])
        yield* cmd.ok(op, "set_node_command", [h, "state", "=", "free"])
        yield* Effect.logInfo(`added ${h} to Torque (np ${cores})`)
      }).pipe(deadline(op, s.add_node_timeout))
    }

    /** releaseres for one reservation; a failure counts only while the reservation is still listed. */
    const release = (op: string, h: string, resName: string) =>
      Effect.gen(function* () {
        const r = yield* cmd.run(op, "releaseres_command", [h, resName])
        if (r.exitCode === 0) return
        const left = yield* reservationsOf(op, h)
        if (hasReservation(left, resName)) {
          return yield* Effect.fail(new ClusterError({ op, message: `cannot release reservation ${resName} of ${h}: exit code ${r.exitCode}: ${(r.stderr || r.stdout).trim().slice(0, 300)}` }))
        }
      })

    const removeNode = (hostname: string, reservation: Reservation): Effect.Effect<void, ClusterError> => {
      const op = "remove node"
      return Effect.gen(function* () {
        const h = yield* host(op, hostname)
        for (const resName of [reservation.queue, reservation.account]) {
          if (resName === null) continue
          yield* name(op, resName)
          yield* release(op, h, resName)
        }
        const off = yield* cmd.run(op, "pbsnodes_command", ["-o", h])
        if (off.exitCode !== 0) {
          if (UNKNOWN_NODE.test(`${off.stdout}\n${off.stderr}`)) {
            yield* Effect.logInfo(`${h} is not in Torque any more`)
            return
          }
          return yield* Effect.fail(new ClusterError({ op, message: `pbsnodes -o ${h} failed with exit code ${off.exitCode}: ${off.stderr.trim().slice(0, 300)}` }))
        }
        yield* waitUntil(
          op,
          `Maui reporting ${h} drained, down or gone`,
          Effect.flatMap(checknode(op, h), (c) =>
            GONE_ENOUGH.has(c.state) || c.state.includes("down") ? Effect.void : Effect.fail(new NotYet({ message: `Maui says ${h} is ${c.state}` }))
          ),
          s.remove_node_timeout,
          s.retry_interval
        )
        yield* cmd.ok(op, "remove_node_command", [h], UNKNOWN_NODE)
        yield* Effect.logInfo(`removed ${h} from Torque`)
      }).pipe(deadline(op, s.remove_node_timeout + 2 * s.command_timeout))
    }

    const holdNode = (hostname: string) =>
      Effect.flatMap(host("hold node", hostname), (h) => cmd.ok("hold node", "pbsnodes_command", ["-o", h])).pipe(Effect.asVoid)

    const unholdNode = (hostname: string) =>
      Effect.flatMap(host("unhold node", hostname), (h) => cmd.ok("unhold node", "pbsnodes_command", ["-c", h])).pipe(Effect.asVoid)

    const vacateNode = (hostname: string, jobs: ReadonlyArray<string>): Effect.Effect<void, ClusterError> => {
      const op = "vacate node"
      return Effect.gen(function* () {
        yield* host(op, hostname)
        const ids = [...new Set(jobs.map(jobOfSlot).filter((j) => j !== ""))]
        for (const id of ids) yield* checked(op, validateJobId(id))
        const failures: Array<string> = []
        for (const id of ids) {
          const sig = yield* cmd.run(op, "signal_job_command", ["9", id])
          if (sig.exitCode !== 0) yield* Effect.logDebug(`qsig -s 9 ${id}: exit code ${sig.exitCode} (${sig.stderr.trim()})`)
          const del = yield* Effect.either(cmd.ok(op, "delete_job_command", [id], UNKNOWN_JOB))
          if (Either.isLeft(del)) failures.push(del.left.message)
        }
        if (failures.length > 0) return yield* Effect.fail(new ClusterError({ op, message: `${hostname}: ${failures.join("; ")}` }))
      })
    }

    const checkReservation = (hostname: string, reservation: Reservation): Effect.Effect<void, ClusterError> => {
      const op = "check reservation"
      return Effect.gen(function* () {
        const h = yield* host(op, hostname)
        if (reservation.queue !== null || reservation.account !== null) {
          const rows = yield* reservationsOf(op, h)
          for (const [kind, resName] of [["-q", reservation.queue], ["-a", reservation.account]] as const) {
            if (resName === null) continue
            yield* name(op, resName)
            if (hasReservation(rows, resName)) continue
            yield* Effect.logWarning(`${h} is not reserved for ${resName}: setting the reservation again`)
            yield* setres(op, h, kind, resName)
          }
        }
        if (reservation.property !== null) {
          const prop = yield* name(op, reservation.property)
          const r = yield* cmd.ok(op, "pbsnodes_command", ["-x", h])
          const nodes = yield* parsedOutput(op, `pbsnodes -x ${h}`, parsePbsnodes(r.stdout))
          const node = nodes.find((n) => n.name === h)
          if (node === undefined || !node.properties.includes(prop)) {
            yield* Effect.logWarning(`${h} lacks the property ${prop}: setting it again`)
            yield* cmd.ok(op, "set_node_command", [h, "properties", "=", prop])
          }
        }
      })
    }

    const service: ClusterService = {
      query,
      status: Effect.map(Ref.get(health), (h) => ({ torque: h.torque, maui: h.maui })),
      // Torque adds nodes when they are Ready (addNode); nothing to do at Active.
      instanceActive: () => Effect.void,
      addNode,
      removeNode,
      holdNode,
      unholdNode,
      vacateNode,
      checkReservation
    }
    return service
  })

/** The Cluster layer for `cluster.type: torque`; a bad cluster.config fails with the key path. */
export const makeTorqueCluster = (config: ConfigFile, opts: TorqueLayerOptions = {}): Layer.Layer<Cluster, ClusterConfigError> =>
  Layer.effect(
    Cluster,
    Effect.flatMap(
      Either.match(torqueSettings(config), { onLeft: Effect.fail, onRight: Effect.succeed }),
      (s) => makeTorqueClusterService(s, opts)
    )
  )
