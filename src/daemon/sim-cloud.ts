/**
 * `cloud.<res>: {type: simulated, ...}` under `dyncluster run --config`: a
 * cloud resource whose VMs are simulated (boot time, boot failures, quota,
 * API errors, destroy time) while the batch system is a real one, so an
 * administrator can try the scaler on the real cluster (with hooks that turn
 * a simulated VM into a real machine, e.g. a container or a network
 * namespace) before giving it a cloud account.
 *
 * The behaviour is what a scenario file's `clouds.<res>` says, with the same
 * keys and checks (src/sim/scenario.ts CloudSim), given either inline in
 * `cloud.<res>.config` or taken from a scenario file with
 * `cloud.<res>.config.scenario: FILE` (relative to the configuration file's
 * directory). Besides those, `cloud.<res>.config` takes
 * `instance_name_prefix` (instance and host names are `<prefix>-NNNNN`) and
 * `seed` (boot times and failures are drawn from it; default the scenario's
 * seed, else 1).
 *
 * A SimWorld of its own serves each simulated resource, in real time
 * (realtime-world.ts). Its instances live in the daemon's memory: they
 * vanish when the daemon stops. They have no IP address (`{1}` of the hooks
 * is empty; a port checker connects to the instance's name, which a
 * post_vm_provision_command can make resolve). Ready is what the configured
 * config-checker says (none: Active counts as Ready), so `config_time` is
 * not used; the price the engine's policies read is `cloud.<res>.price`.
 */
import { Effect, Either, Layer, Schema, type Scope } from "effect"
import { existsSync, statSync } from "node:fs"
import { Cloud, type CloudService } from "../engine/services.ts"
import { formatParseError, unknownKeys, type ResourceConfig } from "../model/config.ts"
import type { Instance } from "../model/types.ts"
import { simCloudService } from "../sim/layers.ts"
import { makeRng } from "../sim/random.ts"
import { CloudSim, focus, readScenarioDocument, simResourceSpec } from "../sim/scenario.ts"
import { SimWorld, type SimResourceSpec } from "../sim/world.ts"
import { runInRealTime, worldEventLogger } from "./realtime-world.ts"
import { scenarioPathOf, type LiveSetup, type SetupFailure } from "./setup.ts"

export interface SimCloudResource {
  readonly spec: SimResourceSpec
  readonly seed: number
  /** Where the behaviour came from: `cloud.<res>.config`, or the scenario file's path. */
  readonly source: string
  /** Unknown keys and keys that are not used here, each naming its key path. */
  readonly warnings: ReadonlyArray<string>
}

const HOST_PREFIX = /^[A-Za-z0-9][A-Za-z0-9.-]*$/
const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)
const show = (v: unknown) => JSON.stringify(v) ?? String(v)
/** `base` + a problem line of formatParseError, whose path is relative to `base`. */
const under = (base: string, line: string) => (line.startsWith("(top level)") ? `${base}${line.slice("(top level)".length)}` : `${base}.${line}`)

/**
 * The simulated behaviour of resource `resource` (its `cloud.<res>` section).
 * Every problem is a line naming its key path (`cloud.<res>.config.boot_time: ...`).
 */
export const loadSimCloud = (resource: string, rc: ResourceConfig, configPath?: string): Either.Either<SimCloudResource, ReadonlyArray<string>> => {
  const at = `cloud.${resource}.config`
  const problems: Array<string> = []
  const warnings: Array<string> = []
  const { instance_name_prefix: prefix, seed, scenario, ...behaviour } = rc.config
  if (prefix !== undefined && (typeof prefix !== "string" || !HOST_PREFIX.test(prefix)))
    problems.push(`${at}.instance_name_prefix: expected the start of a host name (letters, digits, '.', '-'), got ${show(prefix)}`)
  if (seed !== undefined && !Number.isInteger(seed)) problems.push(`${at}.seed: expected an integer, got ${show(seed)}`)

  // where the behaviour is: inline, or clouds.<res> of a scenario file
  let entry: unknown = behaviour
  let base = at
  let source = at
  let docSeed: number | undefined
  if (scenario !== undefined) {
    const key = `${at}.scenario`
    if (typeof scenario !== "string" || scenario.trim() === "")
      return Either.left([...problems, `${key}: expected the path of a scenario file whose clouds.${resource} describes this resource, got ${show(scenario)}`])
    if (Object.keys(behaviour).length > 0)
      return Either.left([
        ...problems,
        `${at}: give either scenario (the behaviour of clouds.${resource} in that file) or the behaviour inline (${Object.keys(behaviour).join(", ")}), not both`
      ])
    const path = scenarioPathOf(scenario, configPath)
    if (!existsSync(path)) return Either.left([...problems, `${key}: scenario file not found: ${path}`])
    if (statSync(path).isDirectory()) return Either.left([...problems, `${key}: ${path} is a directory, not a scenario file`])
    const sat = `${key} (${path})`
    const read = readScenarioDocument(path)
    if (Either.isLeft(read)) return Either.left([...problems, ...read.left.problems.map((p) => `${sat}: ${p}`)])
    const doc = read.right
    const clouds = isRecord(doc) ? doc.clouds : undefined
    if (!isRecord(clouds) || clouds[resource] === undefined) {
      const has = isRecord(clouds) ? Object.keys(clouds) : []
      return Either.left([...problems, `${sat}: clouds.${resource}: is required but missing (the file describes ${has.length > 0 ? `clouds ${has.join(", ")}` : "no clouds"})`])
    }
    entry = clouds[resource]
    base = `${sat}: clouds.${resource}`
    source = path
    if (isRecord(doc) && Number.isInteger(doc.seed)) docSeed = doc.seed as number
  }

  const decoded = Schema.decodeUnknownEither(CloudSim, { errors: "all", onExcessProperty: "ignore" })(entry)
  if (Either.isLeft(decoded)) problems.push(...focus(formatParseError(decoded.left, entry)).map((l) => under(base, l)))
  if (problems.length > 0 || Either.isLeft(decoded)) return Either.left(problems)
  const c = decoded.right
  warnings.push(...unknownKeys(CloudSim, entry).map((k) => `${under(base, k)}: unknown key, ignored`))
  if (c.config_time !== undefined)
    warnings.push(`${base}.config_time: not used under --config: a VM is Ready when the configured config-checker says so (none: as soon as it is Active)`)
  if (c.price !== undefined && c.price !== null)
    warnings.push(`${base}.price: not used under --config: the price the policies read is cloud.${resource}.price`)
  return Either.right({ spec: simResourceSpec(resource, c, rc), seed: (seed as number | undefined) ?? docSeed ?? 1, source, warnings })
}

/** Cloud events worth an info line (the rest are debug). */
const INFO_EVENTS = new Set(["boot", "active", "boot_failed", "terminate", "gone"])

/** Simulated VMs have no address: nothing may connect to a made-up one. */
const noAddress = (i: Instance): Instance => (i.ip === null ? i : { ...i, ip: null })

/**
 * The Cloud service of one simulated resource under --config: its own
 * SimWorld, in real time while the scope lives.
 */
export const simulatedCloudService = (resource: string, rc: ResourceConfig, setup: LiveSetup): Effect.Effect<CloudService, SetupFailure, Scope.Scope> =>
  Effect.gen(function* () {
    const loaded = loadSimCloud(resource, rc, setup.configPath)
    if (Either.isLeft(loaded)) return yield* Effect.fail<SetupFailure>({ message: loaded.left.join("\n") })
    const { spec, seed, source, warnings } = loaded.right
    for (const w of warnings) setup.log.log("warn", w, { resource })
    const world = new SimWorld(
      { physical: [], resources: [spec], jobs: [], faults: [], schedulerCycle: 60, drain: Infinity, maxTime: null },
      makeRng(seed).fork(`cloud ${resource}`),
      worldEventLogger(setup.log, `simulated cloud ${resource}`, INFO_EVENTS)
    )
    const { epoch, synced } = yield* runInRealTime(world)
    const inner = simCloudService(world, epoch)
    setup.log.log(
      "info",
      `simulated cloud resource ${resource} (${source === `cloud.${resource}.config` ? "behaviour in " : "behaviour of clouds." + resource + " in "}${source}): ${spec.cores} core(s) per VM, instances named ${spec.prefix}-NNNNN; they live in this process and vanish when it stops`,
      { resource }
    )
    return {
      list: (r) => synced(Effect.map(inner.list(r), (all) => all.map(noAddress))),
      boot: (r, o) => synced(Effect.map(inner.boot(r, o), noAddress)),
      refresh: (i) => synced(Effect.map(inner.refresh(i), noAddress)),
      destroy: (i) => synced(inner.destroy(i)),
      coresPerNode: (r) => synced(inner.coresPerNode(r))
    }
  })

/** The Cloud layer of one `cloud.<res>: {type: simulated}` resource under --config (the registry's `simulated` cloud type). */
export const layerSimulatedCloud = (resource: string, rc: ResourceConfig, setup: LiveSetup): Layer.Layer<Cloud, SetupFailure> =>
  Layer.scoped(Cloud, simulatedCloudService(resource, rc, setup))
