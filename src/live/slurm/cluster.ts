/**
 * The Slurm Cluster layer (`cluster.type: slurm`, SPEC §2–§3). Every Slurm
 * operation is a command template of `cluster.config` run through the safe
 * command runner with a timeout; every failure or unreadable output is a
 * ClusterError value, so the engine keeps its last view.
 *
 * New cloud nodes are Slurm 22.05+ dynamic nodes: addNode creates the node
 * (`scontrol create nodename=H NodeAddr=IP CPUs=N Feature=F State=FUTURE`),
 * the VM's own `slurmd -Z` registers it, addNode waits for that. A
 * resource's reservation maps onto Slurm like this:
 * - queue → partition: the node gets the partition's feature and the
 *   partition selects such nodes (`NodeSet=X Feature=F`, `PartitionName=Q
 *   Nodes=X`). Features fix a dynamic node's partitions when it is created.
 * - property → one more node feature (jobs ask for it with --constraint).
 * - account → a MAGNETIC reservation `<reservation_prefix><account>` with
 *   `Accounts=<account>` holding the account's nodes: only that account's
 *   jobs run there, and they use it without asking for it (see docs/slurm.md).
 */
import { Effect, Either, Layer, Ref } from "effect"
import { Cluster, ClusterError, type ClusterService, type ClusterView, type NewNode } from "../../engine/services.ts"
import type { ConfigFile } from "../../model/config.ts"
import type { Reservation } from "../../model/types.ts"
import { validateHostname, validateIp, validateJobId, validateName } from "../command.ts"
import { checked, ClusterConfigError, describeResult, makeRunner, NotYet, waitUntil, type Runner } from "../batch-commands.ts"
import { nodeFeatures, reservationName, slurmSettings, type SlurmSettings, type SlurmTemplate } from "./config.ts"
import { compressHostlist, expandHostlist } from "./hostlist.ts"
import { parseJobs } from "../parse-worker.ts"
import { parseScontrolRecords, parseSinfoJson, slurmView, splitNodeState, type SlurmJob, type SlurmNode } from "./parse.ts"

export interface SlurmLayerOptions {
  /** Extra environment for every command (e.g. SLURM_CONF). */
  readonly env?: Readonly<Record<string, string>>
}

/** One node as `scontrol --future show node -o` prints it. */
export interface ShownNode {
  readonly name: string
  readonly state: string
  readonly flags: ReadonlyArray<string>
  readonly features: ReadonlyArray<string>
  readonly partitions: ReadonlyArray<string>
  readonly address: string | null
}

const NOT_FOUND = /not found|invalid node name|no nodes? (in the system|found)/i
const ALREADY = /already exists|duplicate/i
const JOB_GONE = /invalid job id|already completed|job has already finished|job\/step already completing or completed/i

/** Extras beside the ClusterService, for the power-saving commands and the tests. */
export interface SlurmClusterService extends ClusterService {
  readonly settings: SlurmSettings
  readonly runner: Runner<SlurmTemplate>
  /** The node, or null when slurmctld does not know it (FUTURE nodes included). */
  readonly showNode: (hostname: string) => Effect.Effect<ShownNode | null, ClusterError>
  /** Every job and node, as parsed. */
  readonly raw: Effect.Effect<{ readonly jobs: ReadonlyArray<SlurmJob>; readonly nodes: ReadonlyArray<SlurmNode> }, ClusterError>
  /** The nodes of an account reservation, or null when there is none. */
  readonly reservationNodes: (account: string) => Effect.Effect<ReadonlyArray<string> | null, ClusterError>
}

const parsed = <A>(op: string, e: Either.Either<A, { readonly message: string; readonly source?: string }>): Effect.Effect<A, ClusterError> =>
  Either.match(e, {
    onLeft: (l) => Effect.fail(new ClusterError({ op, message: l.source !== undefined ? `${l.source}: ${l.message}` : l.message, cause: l })),
    onRight: Effect.succeed
  })

export const makeSlurmClusterService = (s: SlurmSettings, opts: SlurmLayerOptions = {}): Effect.Effect<SlurmClusterService> =>
  Effect.gen(function* () {
    const runner = makeRunner<SlurmTemplate>(s, { timeoutMs: Math.round(s.command_timeout * 1000), ...(opts.env ? { env: opts.env } : {}) })
    const lastQueryOk = yield* Ref.make<boolean | null>(null)
    // Reservations are read, changed and written back whole: one change at a time.
    const resvLock = yield* Effect.makeSemaphore(1)

    const host = (op: string, h: string) => checked(op, validateHostname(h))

    const showNode = (hostname: string): Effect.Effect<ShownNode | null, ClusterError> =>
      Effect.gen(function* () {
        const op = `show node ${hostname}`
        const h = yield* host(op, hostname)
        const r = yield* runner.run(op, "show_node_command", [h])
        if (r.exitCode !== 0) {
          if (NOT_FOUND.test(`${r.stdout}\n${r.stderr}`)) return null
          return yield* Effect.fail(new ClusterError({ op, message: `show_node_command failed with ${describeResult(r)}` }))
        }
        const recs = yield* parsed(op, parseScontrolRecords(r.stdout, "scontrol show node -o"))
        const rec = recs.find((x) => x.NodeName === h)
        if (rec === undefined) return null
        const st = splitNodeState(rec.State ?? "")
        const list = (v: string | undefined) => (v === undefined || v === "(null)" ? [] : v.split(",").map((x) => x.trim()).filter((x) => x !== ""))
        return {
          name: h,
          state: st.state,
          flags: st.flags,
          features: list(rec.AvailableFeatures ?? rec.Features),
          partitions: list(rec.Partitions),
          address: rec.NodeAddr ?? null
        }
      })

    const raw = Effect.gen(function* () {
      const [q, i] = yield* Effect.all([runner.ok("query", "squeue_command", []), runner.ok("query", "sinfo_command", [])], { concurrency: 2 })
      const jobs = yield* parsed("query", yield* Effect.either(parseJobs("slurm squeue --json", q.stdout)))
      const nodes = yield* parsed("query", parseSinfoJson(i.stdout))
      return { jobs, nodes }
    })

    const query: Effect.Effect<ClusterView, ClusterError> = raw.pipe(
      Effect.map(({ jobs, nodes }) => slurmView(nodes, jobs, s.queue_to_monitor)),
      Effect.tapBoth({ onFailure: () => Ref.set(lastQueryOk, false), onSuccess: () => Ref.set(lastQueryOk, true) })
    )

    const status = Effect.gen(function* () {
      const last = yield* Ref.get(lastQueryOk)
      if (last !== null) return { slurm: last }
      const r = yield* Effect.either(runner.run("status", "ping_command", []))
      return { slurm: r._tag === "Right" && r.right.exitCode === 0 && /\bUP\b/.test(r.right.stdout) }
    })

    // ------------------------------------------------------------ account reservations

    const reservationNodes = (account: string): Effect.Effect<ReadonlyArray<string> | null, ClusterError> =>
      Effect.gen(function* () {
        const op = `show reservation for ${account}`
        const name = yield* checked(op, validateName(reservationName(s, account)))
        const r = yield* runner.run(op, "show_reservation_command", [name])
        if (r.exitCode !== 0) {
          if (NOT_FOUND.test(`${r.stdout}\n${r.stderr}`)) return null
          return yield* Effect.fail(new ClusterError({ op, message: `show_reservation_command failed with ${describeResult(r)}` }))
        }
        const recs = yield* parsed(op, parseScontrolRecords(r.stdout, "scontrol show reservation -o"))
        const rec = recs.find((x) => x.ReservationName === name)
        if (rec === undefined) return null
        return yield* parsed(op, expandHostlist(rec.Nodes ?? ""))
      })

    const joinReservation = (account: string, h: string) =>
      resvLock.withPermits(1)(
        Effect.gen(function* () {
          const op = `reserve ${h} for ${account}`
          const acct = yield* checked(op, validateName(account))
          const name = yield* checked(op, validateName(reservationName(s, acct)))
          const nodes = yield* reservationNodes(acct)
          if (nodes === null) {
            yield* runner.ok(op, "create_reservation_command", [name, acct, h])
          } else if (!nodes.includes(h)) {
            yield* runner.ok(op, "update_reservation_command", [name, compressHostlist([...nodes, h])])
          }
        })
      )

    const leaveReservation = (account: string, h: string) =>
      resvLock.withPermits(1)(
        Effect.gen(function* () {
          const op = `release ${h} from ${account}`
          const acct = yield* checked(op, validateName(account))
          const name = yield* checked(op, validateName(reservationName(s, acct)))
          const nodes = yield* reservationNodes(acct)
          if (nodes === null || !nodes.includes(h)) return
          const rest = nodes.filter((n) => n !== h)
          // A reservation cannot be empty: the last node takes it along.
          if (rest.length === 0) yield* runner.ok(op, "delete_reservation_command", [name], NOT_FOUND)
          else yield* runner.ok(op, "update_reservation_command", [name, compressHostlist(rest)])
        })
      )

    // ------------------------------------------------------------ features

    const wantedFeatures = (op: string, reservation: Reservation) =>
      Effect.forEach(nodeFeatures(s, reservation), (f) => checked(op, validateName(f)))

    const missingFeatures = (node: ShownNode, wanted: ReadonlyArray<string>) => wanted.filter((f) => !node.features.includes(f))

    const featureError = (op: string, node: ShownNode, missing: ReadonlyArray<string>) =>
      new ClusterError({
        op,
        message:
          `node ${node.name} lacks feature(s) ${missing.join(",")} (it has ${node.features.join(",") || "none"}): ` +
          `a dynamic node's features, and so its partitions, are fixed when it is created; ` +
          `let dyncluster create the node before the VM's slurmd -Z starts, or start slurmd with --conf "Feature=..."`
      })

    // ------------------------------------------------------------ the service

    const addNode = (nn: NewNode): Effect.Effect<void, ClusterError> =>
      Effect.gen(function* () {
        const op = `add ${nn.hostname}`
        const h = yield* host(op, nn.hostname)
        const addr = nn.ip !== null ? yield* checked(op, validateIp(nn.ip)) : h
        if (!(Number.isInteger(nn.cores) && nn.cores > 0)) {
          return yield* Effect.fail(new ClusterError({ op, message: `the node's CPU count is not known (${nn.cores})` }))
        }
        const features = yield* wantedFeatures(op, nn.reservation)
        let node = yield* showNode(h)
        if (node === null) {
          const mem = String(s.node_memory_mb[nn.resource] ?? 1)
          const r = yield* runner.run(op, "create_node_command", [h, addr, String(nn.cores), features.join(","), mem])
          if (r.exitCode !== 0 && !ALREADY.test(`${r.stdout}\n${r.stderr}`)) {
            return yield* Effect.fail(new ClusterError({ op, message: `create_node_command failed with ${describeResult(r)}` }))
          }
          node = yield* showNode(h)
          if (node === null) return yield* Effect.fail(new ClusterError({ op, message: `node ${h} was created but slurmctld does not show it` }))
        }
        const missing = missingFeatures(node, features)
        if (missing.length > 0) return yield* Effect.fail(featureError(op, node, missing))
        // Into the account's reservation before its slurmd registers, so no other account's job slips in.
        if (nn.reservation.account !== null) yield* joinReservation(nn.reservation.account, h)
        yield* waitUntil(
          op,
          `node ${h} registered by its slurmd`,
          Effect.flatMap(showNode(h), (n): Effect.Effect<void, ClusterError | NotYet> =>
            n === null
              ? Effect.fail(new ClusterError({ op, message: `node ${h} disappeared from slurmctld` }))
              : n.state === "FUTURE" || n.state === "UNKNOWN" || n.state === "DOWN" || n.flags.includes("NOT_RESPONDING")
                ? Effect.fail(new NotYet({ message: `${h} is ${[n.state, ...n.flags].join("+")}` }))
                : Effect.void
          ),
          s.register_timeout,
          s.poll_interval
        )
      })

    const drained = (n: ShownNode): boolean =>
      (n.state === "IDLE" || n.state === "DOWN" || n.state === "FUTURE" || n.state === "UNKNOWN") && !n.flags.includes("COMPLETING")

    const removeNode = (hostname: string, reservation: Reservation): Effect.Effect<void, ClusterError> =>
      Effect.gen(function* () {
        const op = `remove ${hostname}`
        const h = yield* host(op, hostname)
        const node = yield* showNode(h)
        if (node !== null) {
          yield* runner.ok(op, "drain_node_command", [h], NOT_FOUND)
          yield* waitUntil(
            op,
            `node ${h} drained`,
            Effect.flatMap(showNode(h), (n) =>
              n === null || drained(n) ? Effect.void : Effect.fail(new NotYet({ message: `${h} is ${[n.state, ...n.flags].join("+")}` }))
            ),
            s.drain_timeout,
            s.poll_interval
          )
        }
        if (reservation.account !== null) yield* leaveReservation(reservation.account, h)
        if (node === null) return
        // "Requested nodes are busy" right after the last job ended: retry briefly.
        yield* waitUntil(
          op,
          `node ${h} deleted`,
          Effect.flatMap(runner.run(op, "delete_node_command", [h]), (r) =>
            r.exitCode === 0 || NOT_FOUND.test(`${r.stdout}\n${r.stderr}`)
              ? Effect.void
              : Effect.fail(new NotYet({ message: `delete_node_command failed with ${describeResult(r)}` }))
          ),
          Math.max(s.poll_interval * 10, 10),
          s.poll_interval
        )
      })

    const holdNode = (hostname: string) =>
      Effect.flatMap(host(`hold ${hostname}`, hostname), (h) => runner.ok(`hold ${h}`, "hold_node_command", [h]).pipe(Effect.asVoid))

    const unholdNode = (hostname: string) =>
      Effect.flatMap(host(`unhold ${hostname}`, hostname), (h) => runner.ok(`unhold ${h}`, "unhold_node_command", [h]).pipe(Effect.asVoid))

    const vacateNode = (hostname: string, jobs: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const op = `vacate ${hostname}`
        const h = yield* host(op, hostname)
        let ids = jobs
        if (ids.length === 0) {
          const { jobs: all } = yield* raw
          ids = all.filter((j) => j.nodes.includes(h) && j.state !== "COMPLETED" && j.state !== "CANCELLED" && j.state !== "FAILED").map((j) => j.id)
        }
        for (const id of ids) {
          const j = yield* checked(op, validateJobId(id))
          yield* runner.ok(op, "cancel_job_command", [j], JOB_GONE)
        }
      })

    const checkReservation = (hostname: string, reservation: Reservation) =>
      Effect.gen(function* () {
        const op = `check reservation of ${hostname}`
        const h = yield* host(op, hostname)
        const node = yield* showNode(h)
        if (node === null) return yield* Effect.fail(new ClusterError({ op, message: `node ${h} is not in Slurm` }))
        const missing = missingFeatures(node, yield* wantedFeatures(op, reservation))
        if (missing.length > 0) return yield* Effect.fail(featureError(op, node, missing))
        if (reservation.account !== null) yield* joinReservation(reservation.account, h)
      })

    const service: SlurmClusterService = {
      query,
      status,
      instanceActive: () => Effect.void,
      addNode,
      removeNode,
      holdNode,
      unholdNode,
      vacateNode,
      checkReservation,
      settings: s,
      runner,
      showNode,
      raw,
      reservationNodes
    }
    return service
  })

/**
 * The Cluster layer for `cluster.type: slurm` (the scaler adds and removes
 * dynamic nodes); a bad cluster.config fails with the key path. With
 * `cluster.mode: power_save` Slurm itself decides (slurm-resume/-suspend),
 * and a scaler beside it would fight it over the nodes: refused.
 */
export const makeSlurmCluster = (config: ConfigFile, opts: SlurmLayerOptions = {}): Layer.Layer<Cluster, ClusterConfigError> =>
  Layer.effect(
    Cluster,
    Effect.flatMap(
      Either.match(slurmSettings(config), { onLeft: Effect.fail, onRight: Effect.succeed }),
      (s) =>
        s.mode === "power_save"
          ? Effect.fail(
              new ClusterConfigError({
                problems: ["cluster.mode: power_save"],
                message:
                  "cluster.mode is power_save: Slurm's own power saving starts and stops the VMs through `dyncluster slurm-resume` / `slurm-suspend` " +
                  "(slurm.conf ResumeProgram/SuspendProgram, see docs/slurm.md); the scaler does not run in this mode"
              })
            )
          : makeSlurmClusterService(s, opts)
    )
  )
