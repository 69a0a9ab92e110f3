/**
 * Slurm's own power saving, the other way round (`cluster.mode:
 * power_save`): slurmctld decides which State=CLOUD nodes to power up or
 * down and runs `dyncluster slurm-resume HOSTLIST` / `slurm-suspend
 * HOSTLIST` (its ResumeProgram / SuspendProgram). Resume boots one VM per
 * node through the resource's Cloud (the resource comes from
 * `power_save_nodes`), waits until it is Active, tells Slurm where it is
 * (`nodeaddr`), and records node → instance in the state file; a boot that
 * fails puts the node DOWN with a reason, so Slurm requeues its jobs.
 * Suspend destroys the recorded VM and forgets it.
 *
 * Several resume/suspend processes may run at once: the state file is only
 * changed under a lock (a directory made atomically), never while waiting
 * for a cloud.
 */
import { Clock, Data, Duration, Effect, Either, Schedule, Schema } from "effect"
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import type { BootOptions, CloudError, CloudService } from "../../engine/services.ts"
import { emptyInstance, Instance, InstanceState, InstanceStateNames } from "../../model/types.ts"
import { validateHostname, validateIp } from "../command.ts"
import { describeResult, type Runner } from "../batch-commands.ts"
import type { SlurmSettings, SlurmTemplate } from "./config.ts"
import { expandHostlist } from "./hostlist.ts"

/** The power-saving command could not do its job at all (bad host list, unreadable state file). */
export class PowerError extends Data.TaggedError("PowerError")<{ readonly message: string }> {}

export interface PowerDeps {
  readonly settings: SlurmSettings
  readonly runner: Runner<SlurmTemplate>
  /** The Cloud service of each resource named in power_save_nodes. */
  readonly clouds: ReadonlyMap<string, CloudService>
  /** quantity.max of each resource: never more VMs than that (SPEC §6.1). */
  readonly maxOf: (resource: string) => number
  readonly log: (line: string) => void
  /** Seconds between two looks at a booting VM (default 2). */
  readonly pollInterval?: number
  /** How many nodes are handled at once (default 8). */
  readonly concurrency?: number
}

export interface PowerOutcome {
  readonly node: string
  readonly ok: boolean
  readonly message: string
}

// ---------------------------------------------------------------- state file

const Entry = Schema.Struct({ resource: Schema.String, instance: Instance, since: Schema.Number })
type Entry = typeof Entry.Type
const StateFile = Schema.Struct({ version: Schema.Literal(1), nodes: Schema.Record({ key: Schema.String, value: Entry }) })
type StateFile = typeof StateFile.Type

const readState = (path: string): Either.Either<StateFile, PowerError> => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return Either.right({ version: 1, nodes: {} })
    return Either.left(new PowerError({ message: `cannot read the state file ${path}: ${(e as Error).message}` }))
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    return Either.left(new PowerError({ message: `the state file ${path} is not JSON (${(e as Error).message}); fix or remove it` }))
  }
  return Either.mapLeft(
    Schema.decodeUnknownEither(StateFile)(raw),
    (e) => new PowerError({ message: `the state file ${path} is not a dyncluster power-saving state: ${e.message.split("\n").slice(0, 4).join(" ")}` })
  )
}

const writeState = (path: string, state: StateFile): Either.Either<void, PowerError> => {
  try {
    mkdirSync(dirname(path), { recursive: true })
    const tmp = `${path}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(state, null, 1) + "\n", { mode: 0o600 })
    renameSync(tmp, path)
    return Either.right(undefined)
  } catch (e) {
    return Either.left(new PowerError({ message: `cannot write the state file ${path}: ${(e as Error).message}` }))
  }
}

class Locked extends Data.TaggedError("Locked")<{ readonly holder: string }> {}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Takes the state file's lock, runs `f` on the state, writes what it returns. */
const withState = <A>(path: string, f: (s: StateFile) => { readonly state: StateFile | null; readonly result: A }): Effect.Effect<A, PowerError> => {
  const lock = `${path}.lock`
  const take = Effect.suspend((): Effect.Effect<void, Locked | PowerError> => {
    try {
      mkdirSync(dirname(path), { recursive: true })
      mkdirSync(lock)
      writeFileSync(`${lock}/pid`, String(process.pid))
      return Effect.void
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") return Effect.fail(new PowerError({ message: `cannot lock ${path}: ${(e as Error).message}` }))
      // a holder that died left its lock behind: take it over
      let holder = NaN
      try {
        holder = Number(readFileSync(`${lock}/pid`, "utf8"))
      } catch {
        // being written right now
      }
      if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) rmSync(lock, { recursive: true, force: true })
      return Effect.fail(new Locked({ holder: String(holder) }))
    }
  })
  const release = Effect.sync(() => rmSync(lock, { recursive: true, force: true }))
  const acquire = take.pipe(
    Effect.retry({ schedule: Schedule.spaced(Duration.millis(50)).pipe(Schedule.upTo(Duration.seconds(60))), while: (e) => e._tag === "Locked" }),
    Effect.catchTag("Locked", (e) => Effect.fail(new PowerError({ message: `the state file ${path} stayed locked by process ${e.holder} for 60 s` })))
  )
  return Effect.acquireUseRelease(
    acquire,
    () =>
      Effect.suspend(() => {
        const s = readState(path)
        if (Either.isLeft(s)) return Effect.fail(s.left)
        const r = f(s.right)
        if (r.state !== null) {
          const w = writeState(path, r.state)
          if (Either.isLeft(w)) return Effect.fail(w.left)
        }
        return Effect.succeed(r.result)
      }),
    () => release
  )
}

/** The recorded node → instance map (for status output and tests). */
export const readPowerState = (path: string): Either.Either<Readonly<Record<string, Entry>>, PowerError> => Either.map(readState(path), (s) => s.nodes)

// ---------------------------------------------------------------- resume / suspend

const nodesOf = (hostlist: string): Effect.Effect<ReadonlyArray<string>, PowerError> =>
  Effect.suspend(() => {
    const hosts = expandHostlist(hostlist)
    if (Either.isLeft(hosts)) return Effect.fail(new PowerError({ message: `bad host list ${JSON.stringify(hostlist)}: ${hosts.left.message}` }))
    if (hosts.right.length === 0) return Effect.fail(new PowerError({ message: "no nodes given (expected a Slurm host list such as cloud[1-3,7])" }))
    for (const h of hosts.right) {
      const v = validateHostname(h)
      if (Either.isLeft(v)) return Effect.fail(new PowerError({ message: v.left.message }))
    }
    return Effect.succeed(hosts.right)
  })

const nowSec = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)

/** A reason Slurm accepts as one argument: no blanks. */
const reasonWord = (s: string) => `dyncluster:${s.replace(/[^A-Za-z0-9._:=@/+%-]+/g, "_").slice(0, 80)}`

/**
 * `slurm-resume HOSTLIST`: one VM per node, Active within
 * power_save_boot_timeout, its address given to Slurm. Every node gets an
 * outcome; a node that cannot be booted is put DOWN (its jobs are requeued).
 */
export const slurmResume = (deps: PowerDeps, hostlist: string): Effect.Effect<ReadonlyArray<PowerOutcome>, PowerError> =>
  Effect.gen(function* () {
    const nodes = yield* nodesOf(hostlist)
    const s = deps.settings
    const file = s.power_save_state_file
    const interval = deps.pollInterval ?? 2

    const down = (node: string, why: string) =>
      deps.runner.run(`fail ${node}`, "down_node_command", [node, reasonWord(why)]).pipe(
        Effect.map((r) => (r.exitCode === 0 ? "" : `; setting it DOWN failed too: ${describeResult(r)}`)),
        Effect.catchAll((e) => Effect.succeed(`; setting it DOWN failed too: ${e.message}`))
      )

    const failNode = (node: string, why: string, detail: string) =>
      Effect.gen(function* () {
        const more = yield* down(node, why)
        deps.log(`resume ${node}: FAILED: ${detail}; node set DOWN (reason ${reasonWord(why)}) so Slurm requeues its jobs${more}`)
        return { node, ok: false, message: detail }
      })

    const forget = (node: string, uuid: string | null) =>
      withState(file, (st) => {
        const cur = st.nodes[node]
        if (cur === undefined || (uuid !== null && cur.instance.uuid !== uuid)) return { state: null, result: undefined }
        const { [node]: _gone, ...rest } = st.nodes
        return { state: { version: 1 as const, nodes: rest }, result: undefined }
      })

    const one = (node: string): Effect.Effect<PowerOutcome, PowerError> =>
      Effect.gen(function* () {
        const resource = s.powerSaveNodes.get(node)
        if (resource === undefined) return yield* failNode(node, "not_in_power_save_nodes", `node ${node} is not listed in cluster.config.power_save_nodes`)
        const cloud = deps.clouds.get(resource)
        if (cloud === undefined) return yield* failNode(node, "no_cloud", `no cloud service for resource ${resource}`)

        // A VM recorded for this node that still runs is reused (slurmctld may resume a node twice).
        const known = yield* withState(file, (st) => ({ state: null, result: st.nodes[node] }))
        if (known !== undefined) {
          const cur = yield* Effect.either(cloud.refresh(known.instance))
          if (Either.isRight(cur) && (cur.right.state === InstanceState.Active || cur.right.state === InstanceState.Ready)) {
            return yield* placed(node, resource, cloud, cur.right, "already running")
          }
          yield* Effect.ignore(cloud.destroy(known.instance))
          yield* forget(node, known.instance.uuid)
        }

        // Reserve a slot in the state file before booting, so parallel resumes never exceed max.
        const now = yield* nowSec
        const placeholder = `pending:${node}:${process.pid}:${now}`
        const room = yield* withState(file, (st) => {
          const mine = Object.values(st.nodes).filter((e) => e.resource === resource).length
          if (mine + 1 > deps.maxOf(resource)) return { state: null, result: mine }
          const inst: Instance = { ...emptyInstance(resource, now), uuid: placeholder }
          return { state: { version: 1 as const, nodes: { ...st.nodes, [node]: { resource, instance: inst, since: now } } }, result: -1 }
        })
        if (room >= 0) return yield* failNode(node, "max_reached", `resource ${resource} already has ${room} VM(s), its max`)

        const options: BootOptions = { userData: { slurm_node: node } }
        const booted = yield* Effect.either(cloud.boot(resource, options))
        if (Either.isLeft(booted)) {
          yield* forget(node, placeholder)
          return yield* failNode(node, `boot_failed:${booted.left.kind}`, `boot in ${resource} failed (${booted.left.kind}): ${booted.left.message}`)
        }
        const inst0 = booted.right
        yield* record(node, resource, inst0)
        deps.log(`resume ${node}: booting ${inst0.instance_name ?? inst0.uuid} in ${resource}`)

        const active = yield* Effect.either(waitActive(cloud, inst0, s.power_save_boot_timeout, interval))
        if (Either.isLeft(active)) {
          yield* Effect.ignore(cloud.destroy(inst0))
          yield* forget(node, inst0.uuid)
          return yield* failNode(node, "boot_failed", active.left)
        }
        return yield* placed(node, resource, cloud, active.right, "booted")
      })

    const record = (node: string, resource: string, inst: Instance) =>
      Effect.flatMap(nowSec, (now) =>
        withState(file, (st) => ({ state: { version: 1 as const, nodes: { ...st.nodes, [node]: { resource, instance: inst, since: now } } }, result: undefined }))
      )

    /** The VM runs: tell Slurm its address and record it. */
    const placed = (node: string, resource: string, cloud: CloudService, inst: Instance, how: string) =>
      Effect.gen(function* () {
        const ip = inst.ip
        if (ip === null || Either.isLeft(validateIp(ip))) {
          yield* Effect.ignore(cloud.destroy(inst))
          yield* forget(node, inst.uuid)
          return yield* failNode(node, "no_address", `instance ${inst.instance_name} is Active without a usable address (${ip})`)
        }
        const hostname = inst.dns_name !== null && Either.isRight(validateHostname(inst.dns_name)) ? inst.dns_name : node
        const r = yield* Effect.either(deps.runner.ok(`resume ${node}`, "set_node_address_command", [node, ip, hostname]))
        if (Either.isLeft(r)) {
          yield* Effect.ignore(cloud.destroy(inst))
          yield* forget(node, inst.uuid)
          return yield* failNode(node, "nodeaddr_failed", r.left.message)
        }
        yield* record(node, resource, inst)
        deps.log(`resume ${node}: ${how}: ${inst.instance_name ?? inst.uuid} (${resource}) at ${ip}`)
        return { node, ok: true, message: `${inst.instance_name ?? inst.uuid} at ${ip}` }
      })

    return yield* Effect.forEach(nodes, one, { concurrency: deps.concurrency ?? 8 })
  })

class StillBooting extends Data.TaggedError("StillBooting")<{ readonly state: string }> {}

/** Refreshes until Active (or Ready); Error/Inexistent or the timeout is a failure (a sentence). */
const waitActive = (cloud: CloudService, inst: Instance, timeoutSec: number, intervalSec: number): Effect.Effect<Instance, string> =>
  Effect.gen(function* () {
    let last: Instance = inst
    const look = Effect.gen(function* () {
      const r = yield* Effect.either(cloud.refresh(last))
      if (Either.isLeft(r)) return yield* Effect.fail(new StillBooting({ state: `refresh failed: ${r.left.message}` }))
      last = r.right
      if (last.state === InstanceState.Active || last.state === InstanceState.Ready) return last
      if (last.state === InstanceState.Error || last.state === InstanceState.Inexistent) return yield* Effect.fail(`instance ${inst.instance_name} is ${InstanceStateNames[last.state]}`)
      return yield* Effect.fail(new StillBooting({ state: InstanceStateNames[last.state] }))
    })
    return yield* look.pipe(
      Effect.retry({
        schedule: Schedule.spaced(Duration.seconds(intervalSec)).pipe(Schedule.upTo(Duration.seconds(timeoutSec))),
        while: (e) => typeof e !== "string"
      }),
      Effect.mapError((e) => (typeof e === "string" ? e : `instance ${inst.instance_name} not Active within ${timeoutSec}s (last: ${e.state})`))
    )
  })

/**
 * `slurm-suspend HOSTLIST`: destroys each node's recorded VM (retrying a
 * few times) and forgets it. A node without a VM is fine (nothing to do).
 */
export const slurmSuspend = (deps: PowerDeps, hostlist: string): Effect.Effect<ReadonlyArray<PowerOutcome>, PowerError> =>
  Effect.gen(function* () {
    const nodes = yield* nodesOf(hostlist)
    const file = deps.settings.power_save_state_file
    const one = (node: string): Effect.Effect<PowerOutcome, PowerError> =>
      Effect.gen(function* () {
        const entry = yield* withState(file, (st) => ({ state: null, result: st.nodes[node] }))
        if (entry === undefined) {
          deps.log(`suspend ${node}: no VM recorded, nothing to do`)
          return { node, ok: true, message: "no VM recorded" }
        }
        const cloud = deps.clouds.get(entry.resource)
        if (cloud === undefined) {
          deps.log(`suspend ${node}: FAILED: no cloud service for resource ${entry.resource}; VM ${entry.instance.instance_name} left running`)
          return { node, ok: false, message: `no cloud service for resource ${entry.resource}` }
        }
        // A boot still in progress in another process: its resume owns the VM.
        if (entry.instance.uuid?.startsWith("pending:")) {
          deps.log(`suspend ${node}: FAILED: its VM is still being booted by another slurm-resume`)
          return { node, ok: false, message: "its VM is still being booted" }
        }
        const gone = yield* Effect.either(
          cloud.destroy(entry.instance).pipe(Effect.retry(Schedule.spaced(Duration.seconds(2)).pipe(Schedule.intersect(Schedule.recurs(3)))))
        )
        if (Either.isLeft(gone)) {
          const e: CloudError = gone.left
          deps.log(`suspend ${node}: FAILED: destroying ${entry.instance.instance_name} failed (${e.kind}): ${e.message}; it stays recorded`)
          return { node, ok: false, message: e.message }
        }
        yield* withState(file, (st) => {
          if (st.nodes[node]?.instance.uuid !== entry.instance.uuid) return { state: null, result: undefined }
          const { [node]: _gone, ...rest } = st.nodes
          return { state: { version: 1 as const, nodes: rest }, result: undefined }
        })
        deps.log(`suspend ${node}: destroyed ${entry.instance.instance_name ?? entry.instance.uuid} (${entry.resource})`)
        return { node, ok: true, message: `destroyed ${entry.instance.instance_name}` }
      })
    return yield* Effect.forEach(nodes, one, { concurrency: deps.concurrency ?? 8 })
  })
