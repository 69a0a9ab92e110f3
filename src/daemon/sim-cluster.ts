/**
 * `cluster: {type: simulated, scenario: FILE}` under `dyncluster run --config`:
 * the batch system of a scenario file (its physical nodes, scheduler and
 * workload) stands in for the cluster while the clouds are the live ones of
 * the configuration, so an administrator can watch the scaler drive a real
 * cloud account with a synthetic workload before connecting a real cluster.
 *
 * The world's clock follows the daemon's Clock (t = 0 at start-up): job
 * submissions, ends and scheduler passes happen in real time. A booted VM
 * joins the simulated batch system when the engine adds it (the checker said
 * Ready), with the vCPUs the cloud reported; it leaves when the engine
 * removes it, and when its VM is destroyed or found gone (then whatever ran
 * on it is killed, as on a real cluster).
 *
 * Of the scenario file, only the batch side is used: `cluster`, `workload`,
 * `seed` and `batch_failure` faults. Its `config`/`clouds`, the other
 * faults and the run limits belong to the simulated cloud and are ignored
 * (with a warning).
 */
import { Context, Effect, Either, Layer, Schema } from "effect"
import { existsSync, statSync } from "node:fs"
import { dirname } from "node:path"
import { Cluster, type ClusterService, type CloudService } from "../engine/services.ts"
import { formatParseError, unknownKeys, type ConfigFile } from "../model/config.ts"
import { InstanceState, type Instance } from "../model/types.ts"
import { simClusterService } from "../sim/layers.ts"
import { makeRng } from "../sim/random.ts"
import { DEFAULTS, physicalNodes, readScenarioDocument, ScenarioDoc, scenarioNameOf } from "../sim/scenario.ts"
import { loadWorkload } from "../sim/workload.ts"
import { SimWorld, type FaultSpec, type SimPhysicalNode, type WorldSpec } from "../sim/world.ts"
import { runInRealTime, worldEventLogger } from "./realtime-world.ts"
import { CloudWatch, scenarioPathOf, type LiveSetup, type SetupFailure } from "./setup.ts"

export interface BatchScenario {
  /** Absolute path of the scenario file. */
  readonly path: string
  readonly name: string
  readonly seed: number
  readonly world: WorldSpec
  readonly warnings: ReadonlyArray<string>
}

/** Keys of a scenario file that describe the simulated cloud or a whole simulation run: not used under a live cloud. */
const IGNORED: ReadonlyArray<readonly [string, string]> = [
  ["config", "the configuration given with --config is used"],
  ["config_file", "the configuration given with --config is used"],
  ["clouds", "the live cloud resources of the configuration take its place"],
  ["drain", "the daemon runs until it is stopped"],
  ["max_time", "the daemon runs until it is stopped"],
  ["epoch", "time 0 is the daemon's start"],
  ["api_latency", "cloud calls take the time the live cloud takes"],
  ["operator_actions", "operators act through the REST API"]
]

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

/**
 * The batch side of the scenario that `cluster.scenario` names. Every problem
 * is a line starting with `cluster.scenario`, in plain words.
 */
export const loadBatchScenario = (config: ConfigFile, configPath?: string): Either.Either<BatchScenario, ReadonlyArray<string>> => {
  const key = "cluster.scenario"
  const given = config.cluster.scenario
  if (given === undefined || given.trim() === "") {
    return Either.left([
      `${key}: is required with cluster.type simulated: the scenario file whose batch system (physical nodes, scheduler, workload) stands in for the cluster (a whole simulation, clouds included, runs with \`dyncluster run --sim SCENARIO\`)`
    ])
  }
  const path = scenarioPathOf(given, configPath)
  if (!existsSync(path)) return Either.left([`${key}: scenario file not found: ${path}`])
  if (statSync(path).isDirectory()) return Either.left([`${key}: ${path} is a directory, not a scenario file`])
  const at = `${key} (${path})`
  const read = readScenarioDocument(path)
  if (Either.isLeft(read)) return Either.left(read.left.problems.map((p) => `${at}: ${p}`))
  if (!isRecord(read.right)) return Either.left([`${at}: expected a mapping with at least workload (and cluster), got ${JSON.stringify(read.right ?? null)}`])
  const doc: Record<string, unknown> = { ...read.right }
  if (isRecord(doc.cluster) && isRecord(doc.cluster.physical)) doc.cluster = { ...doc.cluster, physical: [doc.cluster.physical] }
  for (const k of ["cluster", "clouds", "faults"]) if (doc[k] === null) delete doc[k]

  const warnings: Array<string> = unknownKeys(ScenarioDoc, doc).map((k) => `${at}: ${k}: unknown key, ignored`)
  for (const [k, why] of IGNORED) if (doc[k] !== undefined) warnings.push(`${at}: ${k}: not used under a live cloud (${why})`)
  const decoded = Schema.decodeUnknownEither(ScenarioDoc, { errors: "all", onExcessProperty: "ignore" })(doc)
  if (Either.isLeft(decoded)) return Either.left(formatParseError(decoded.left, doc).map((p) => `${at}: ${p}`))
  const s = decoded.right

  const problems: Array<string> = []
  const physical = physicalNodes(s.cluster?.physical ?? [], problems)
  const seed = s.seed ?? DEFAULTS.seed
  const workload = loadWorkload(s.workload, { seed, baseDir: dirname(path) })
  if (Either.isLeft(workload)) problems.push(`workload: ${workload.left.message}`)
  const faults: Array<FaultSpec> = []
  ;(s.faults ?? []).forEach((f, i) => {
    if (f.kind === "batch_failure") faults.push({ kind: "batch_failure", at: f.at, duration: f.duration, mode: f.mode ?? "fail" })
    else warnings.push(`${at}: faults.${i}: a ${f.kind} fault acts on the simulated cloud or the scaler and is ignored under a live cloud (only batch_failure applies)`)
  })
  if (problems.length > 0 || Either.isLeft(workload)) return Either.left(problems.map((p) => `${at}: ${p}`))
  return Either.right({
    path,
    name: s.name ?? scenarioNameOf(path),
    seed,
    warnings,
    world: {
      physical,
      resources: [],
      jobs: workload.right.jobs,
      faults,
      schedulerCycle: s.cluster?.scheduler_cycle ?? DEFAULTS.schedulerCycle,
      drain: Infinity,
      maxTime: null
    }
  })
}

/** World events worth an info line (the rest are debug: submissions, starts, ends, scheduler noise). */
const INFO_EVENTS = new Set(["join", "leave", "lost", "killed", "fault", "fault_end"])

/**
 * Takes a node out of the simulated batch system when the engine learns that
 * its VM is gone (destroyed, or found gone or in Error), killing its jobs.
 */
const watchClouds =
  (world: SimWorld, joined: Map<string, string>, sync: Effect.Effect<void>) =>
  (cloud: CloudService): CloudService => {
    const hostOf = (inst: Instance) => (inst.instance_name !== null ? joined.get(inst.instance_name) : undefined)
    const lost = (inst: Instance, cause: "destroy" | "crash", gone: boolean) =>
      Effect.zipRight(
        sync,
        Effect.sync(() => {
          const host = hostOf(inst)
          if (host === undefined) return
          world.loseExternalNode(host, cause, gone)
          if (gone) joined.delete(inst.instance_name!)
        })
      )
    return {
      ...cloud,
      destroy: (inst) => Effect.tap(cloud.destroy(inst), () => lost(inst, "destroy", true)),
      refresh: (inst) =>
        Effect.tap(cloud.refresh(inst), (now) =>
          now.state === InstanceState.Inexistent ? lost(inst, "crash", true) : now.state === InstanceState.Error ? lost(inst, "crash", false) : Effect.void
        )
    }
  }

/**
 * The Cluster service of `cluster.type: simulated` under live clouds (and the
 * CloudWatch that takes nodes out when their VMs go). A forked fiber moves
 * the world's time along with the Clock, waking for each world event.
 */
export const simulatedClusterLayer = (setup: LiveSetup): Layer.Layer<Cluster | CloudWatch, SetupFailure> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const loaded = loadBatchScenario(setup.config, setup.configPath)
      if (Either.isLeft(loaded)) return yield* Effect.fail<SetupFailure>({ message: loaded.left.join("\n") })
      const b = loaded.right
      const log = setup.log
      for (const w of b.warnings) log.log("warn", w)
      const world = new SimWorld(b.world, makeRng(b.seed), worldEventLogger(log, "simulated batch system", INFO_EVENTS))
      let announced = b.world.jobs.length === 0
      const { epoch, synced } = yield* runInRealTime(world, () => {
        if (!announced && world.workloadDone()) {
          announced = true
          log.log("info", `the scenario's workload is done (${world.finished} job(s) finished, ${world.killed} killed); the batch system idles, the scaler keeps running`, {
            sim_time: world.now
          })
        }
      })

      const inner = simClusterService(world, epoch, { externalNodes: true })
      // instance name → host name of the nodes that joined, so a destroyed VM's node can leave
      const joined = new Map<string, string>()
      const service: ClusterService = {
        query: synced(inner.query),
        status: synced(inner.status),
        instanceActive: (n) => synced(inner.instanceActive(n)),
        addNode: (n) =>
          synced(inner.addNode(n)).pipe(
            Effect.tap(() =>
              Effect.sync(() => {
                if (n.instanceName !== null) joined.set(n.instanceName, n.hostname)
              })
            )
          ),
        removeNode: (h, r) => synced(inner.removeNode(h, r)),
        holdNode: (h) => synced(inner.holdNode(h)),
        unholdNode: (h) => synced(inner.unholdNode(h)),
        vacateNode: (h, jobs) => synced(inner.vacateNode(h, jobs)),
        checkReservation: (h, r) => synced(inner.checkReservation(h, r))
      }
      log.log(
        "info",
        `simulated batch system of scenario ${JSON.stringify(b.name)} (${b.path}): ${b.world.physical.length} physical node(s), ${b.world.jobs.length} job(s), a scheduler pass every ${b.world.schedulerCycle}s; cloud VMs join it when they are Ready`
      )
      return Context.make(Cluster, service).pipe(Context.add(CloudWatch, watchClouds(world, joined, synced(Effect.void))))
    })
  )
