/**
 * Scenario files (YAML): what `dyncluster simulate` replays. A scenario names
 * the scaler configuration (the real format of SPEC §2, inline or as a file),
 * the simulated batch system and clouds, the workload, the faults and when to
 * stop; it decodes into the `SimScenario` that `runScenario` runs.
 *
 * Everything is checked before anything runs, and every problem is reported at
 * once with its key path (`clouds.os.boot_time.median: expected a positive
 * number, got -1`); an unknown key is an error with a did-you-mean suggestion
 * (a misspelt optional key would silently run the default), a warning with
 * `allowUnknownKeys`. The reference of every key is docs/testbed.md.
 */
import { Data, Either, Schema } from "effect"
import { existsSync, readFileSync, statSync } from "node:fs"
import { basename, dirname, extname, isAbsolute, resolve } from "node:path"
import { parse as parseYaml, parseDocument } from "yaml"
import { unknownPolicy } from "../engine/policy.ts"
import { SPOT_INTERRUPTED_CODES } from "../engine/spot.ts"
import { scenarioPolicyKnown } from "../experiments/policies.ts"
import {
  decodeConfig,
  formatParseError,
  loadConfigFile,
  unknownKeyEntries,
  unknownKeyProblem,
  type ConfigFile,
  type ResourceConfig
} from "../model/config.ts"
import { OperatorAction } from "./arbitrary.ts"
import { Distribution, makeRng } from "./random.ts"
import type { SimScenario } from "./run.ts"
import { readSwf, swfOptionsOfSpec } from "./swf.ts"
import { resolveTraceFile } from "./traces.ts"
import { loadWorkload, WorkloadSpec, type Workload, type WorkloadJob } from "./workload.ts"
import type { FaultSpec, SimPhysicalNode, SimResourceSpec, WorldSpec } from "./world.ts"

// ---------------------------------------------------------------- schema

const posInt = Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({
  message: () => "expected a positive integer"
})
const nonNegInt = Schema.Number.pipe(Schema.int(), Schema.nonNegative()).annotations({
  message: () => "expected a non-negative integer"
})
const seconds = Schema.Number.pipe(Schema.finite(), Schema.nonNegative()).annotations({
  message: () => "expected a non-negative number (seconds)"
})
const posSeconds = Schema.Number.pipe(Schema.finite(), Schema.positive()).annotations({
  message: () => "expected a positive number (seconds)"
})
const probability = Schema.Number.pipe(Schema.between(0, 1)).annotations({
  message: () => "expected a probability between 0 and 1"
})
const money = Schema.Number.pipe(Schema.finite(), Schema.nonNegative()).annotations({
  message: () => "expected a non-negative number (price per node-hour)"
})
const str = Schema.String.annotations({ message: () => "expected a string" })
const HOST = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const hostName = Schema.String.pipe(Schema.pattern(HOST)).annotations({
  message: () => "expected a host name (letters, digits, '.', '_', '-')"
})

/** A static node of the batch system, or `count` of them named `<prefix>NN`. */
export const PhysicalEntry = Schema.Struct({
  hostname: Schema.optional(hostName),
  count: Schema.optional(posInt),
  prefix: Schema.optional(hostName),
  cores: posInt,
  properties: Schema.optional(Schema.Array(str))
}).pipe(
  Schema.filter((p) => {
    if (p.hostname === undefined && p.count === undefined) return "needs hostname (one node) or count (a group of nodes)"
    if (p.hostname !== undefined && p.count !== undefined) return "give either hostname or count, not both"
    if (p.hostname !== undefined && p.prefix !== undefined) return "prefix goes with count, not with hostname"
    return true
  })
)
export type PhysicalEntry = typeof PhysicalEntry.Type

export const ClusterSim = Schema.Struct({
  /** A list of entries; a single mapping is accepted and treated as a list of one. */
  physical: Schema.optional(Schema.Array(PhysicalEntry)),
  scheduler_cycle: Schema.optional(posSeconds)
})

export const CloudSim = Schema.Struct({
  cores: posInt,
  boot_time: Schema.optional(Distribution),
  config_time: Schema.optional(Distribution),
  boot_failure_rate: Schema.optional(probability),
  quota: Schema.optional(Schema.NullOr(nonNegInt)),
  api_error_rate: Schema.optional(probability),
  destroy_time: Schema.optional(seconds),
  price: Schema.optional(Schema.NullOr(money)),
  /** Spot instances (the spot_interruption fault can take them back). */
  spot: Schema.optional(Schema.Boolean.annotations({ message: () => "expected true or false" }))
})
export type CloudSim = typeof CloudSim.Type

const resourceName = Schema.String.annotations({ message: () => "expected a resource name" })
/** The codes a simulated spot interruption can end with: EC2's terminations (src/engine/spot.ts). */
const SPOT_TERMINATED = SPOT_INTERRUPTED_CODES.filter((c) => c.startsWith("instance-terminated-")) as [string, ...Array<string>]
/** EC2 gives about two minutes between the notice and the end. */
export const SPOT_WARNING_DEFAULT = 120
export const Fault = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("outage"), resource: resourceName, at: seconds, duration: posSeconds }),
  Schema.Struct({
    kind: Schema.Literal("slow_boots"),
    resource: resourceName,
    at: seconds,
    duration: posSeconds,
    factor: Schema.Number.pipe(Schema.finite(), Schema.positive()).annotations({ message: () => "expected a positive number" })
  }),
  Schema.Struct({
    kind: Schema.Literal("instance_death"),
    at: seconds,
    resource: Schema.optional(resourceName),
    count: Schema.optional(posInt)
  }),
  Schema.Struct({
    kind: Schema.Literal("spot_interruption"),
    at: seconds,
    resource: Schema.optional(resourceName),
    count: Schema.optional(posInt),
    /** Seconds from the notice (marked-for-termination) until the cloud terminates the instance (EC2: about two minutes). */
    warning: Schema.optional(seconds),
    code: Schema.optional(
      Schema.Literal(...SPOT_TERMINATED).annotations({ message: () => `expected one of ${SPOT_TERMINATED.join(", ")}` })
    ),
    resubmit: Schema.optional(Schema.Boolean.annotations({ message: () => "expected true or false" }))
  }),
  Schema.Struct({
    kind: Schema.Literal("batch_failure"),
    at: seconds,
    duration: posSeconds,
    mode: Schema.optional(Schema.Literal("fail", "garbage", "empty").annotations({ message: () => 'expected "fail", "garbage" or "empty"' }))
  }),
  Schema.Struct({ kind: Schema.Literal("restart"), at: Schema.optional(seconds), random: Schema.optional(posInt) }).pipe(
    Schema.filter((f) =>
      f.at === undefined && f.random === undefined
        ? "a restart needs at (seconds) or random (how many restarts at random times)"
        : f.at !== undefined && f.random !== undefined
          ? "give either at or random, not both"
          : true
    )
  )
)
export type Fault = typeof Fault.Type

/** The whole scenario document (`config` is decoded by the configuration's own schema). */
export const ScenarioDoc = Schema.Struct({
  name: Schema.optional(str),
  description: Schema.optional(str),
  seed: Schema.optional(Schema.Number.pipe(Schema.int()).annotations({ message: () => "expected an integer" })),
  config: Schema.optional(Schema.Unknown),
  config_file: Schema.optional(str),
  cluster: Schema.optional(ClusterSim),
  clouds: Schema.optional(Schema.Record({ key: Schema.String, value: CloudSim })),
  workload: WorkloadSpec,
  faults: Schema.optional(Schema.Array(Fault)),
  drain: Schema.optional(seconds),
  max_time: Schema.optional(Schema.NullOr(posSeconds)),
  epoch: Schema.optional(seconds),
  api_latency: Schema.optional(seconds),
  /** Operator actions at virtual times (regression files, docs/testing.md), applied as the REST API would. */
  operator_actions: Schema.optional(Schema.NullOr(Schema.Array(OperatorAction))),
  /** How `simulate --report` labels things: the unit of the prices (cost = price per node-hour × node-hours). */
  report: Schema.optional(Schema.Struct({ currency: Schema.optional(str) }))
})
export type ScenarioDoc = typeof ScenarioDoc.Type

// ---------------------------------------------------------------- defaults

export const DEFAULTS = {
  seed: 1,
  schedulerCycle: 10,
  bootTime: { type: "constant", value: 120 } as Distribution,
  configTime: { type: "constant", value: 30 } as Distribution,
  destroyTime: 10,
  drain: 3600,
  epoch: 0,
  apiLatency: 1,
  physicalPrefix: "node"
} as const

// ---------------------------------------------------------------- results and errors

/** Every problem of a scenario (`path: message`), and the warnings found on the way. */
export class ScenarioError extends Data.TaggedError("ScenarioError")<{
  readonly source: string
  readonly problems: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  readonly message: string
}> {}

const scenarioError = (source: string, problems: ReadonlyArray<string>, warnings: ReadonlyArray<string> = []) =>
  new ScenarioError({
    source,
    problems,
    warnings,
    message: `${source}: invalid scenario\n` + problems.map((p) => `  - ${p}`).join("\n")
  })

/** A decoded scenario: what `runScenario` needs, plus what the file said about itself. */
export interface LoadedScenario extends SimScenario {
  readonly description: string | null
  readonly warnings: ReadonlyArray<string>
  /** Where the jobs came from (`swf:<path>`, `synthetic:seed=N`, `jobs:N`). */
  readonly workloadSource: string
  /** Seconds from start to the last job's earliest possible end plus drain (for progress bars), or max_time if sooner. */
  readonly expectedEnd: number
  /** The random restarts drawn for `{kind: restart, random: N}`, in seconds. */
  readonly randomRestarts: ReadonlyArray<number>
  /** For a trace: data lines in the file, lines outside the window, and the skipped jobs by reason (null for other workloads). */
  readonly trace: {
    readonly lines: number
    readonly outsideWindow: number
    readonly skippedBy: { readonly runtime: number; readonly processors: number; readonly tooLarge: number }
  } | null
  /** `operator_actions`, sorted by time (stable): what runWorld / ActionReplay (src/sim/harness.ts) apply. */
  readonly operatorActions: ReadonlyArray<OperatorAction>
  /** `report.currency`: the cost's unit in `simulate --report` (null: the report's default). */
  readonly currency: string | null
}

export interface DecodeOptions {
  /** Directory that relative paths (config_file, the trace file) are resolved against. */
  readonly baseDir: string
  /** Overrides the scenario's seed (the workload generator's and the world's). */
  readonly seed?: number
  /** Names the scenario in messages (its file path). */
  readonly source?: string
  /** Default name when the document has none. */
  readonly defaultName?: string
  /** Unknown keys (here and in the configuration) are warnings instead of errors. */
  readonly allowUnknownKeys?: boolean
}

// ---------------------------------------------------------------- helpers

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

const show = (v: unknown): string => {
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s
}

const firstLine = (s: string) => s.split("\n")[0].replace(/:\s*$/, "")

/**
 * Drops the "wrong kind of value" line of a union member when another member
 * explains a deeper path: for `boot_time: {type: lognormal, median: -1}`,
 * `boot_time.median: expected a positive number` says it all, and "boot_time:
 * expected a finite number" (the bare-number shorthand) is noise.
 */
export const focus = (lines: ReadonlyArray<string>): Array<string> => {
  const paths = lines.map((l) => l.slice(0, l.indexOf(": ")))
  const kept = lines.filter((l, i) => {
    if (/, got [{[]/.test(l)) {
      const p = paths[i] + "."
      return !paths.some((q) => q.startsWith(p))
    }
    // `arrival.type: expected "constant" or ...` when another member of the
    // union took the discriminator and explains a deeper problem
    if (/: expected "[^"]*"( or "[^"]*")*, got "/.test(l)) {
      const dot = paths[i].lastIndexOf(".")
      if (dot < 0) return true
      const parent = paths[i].slice(0, dot + 1)
      return !paths.some((q) => q !== paths[i] && q.startsWith(parent))
    }
    return true
  })
  // "x: expected a mapping, got 1" + "x: expected a number, got 1" → one line
  const out: Array<string> = []
  const merged = new Map<string, { index: number; alternatives: Array<string> }>()
  for (const line of kept) {
    const m = /^(.*?): expected (.*), got (.*)$/.exec(line)
    if (m === null) {
      out.push(line)
      continue
    }
    const key = `${m[1]}\u0000${m[3]}`
    const prev = merged.get(key)
    const alts = m[2].split(" or ")
    if (prev === undefined) {
      merged.set(key, { index: out.length, alternatives: [...new Set(alts)] })
      out.push(line)
    } else {
      for (const a of alts) if (!prev.alternatives.includes(a)) prev.alternatives.push(a)
      let what = prev.alternatives.join(" or ")
      if (prev.alternatives.includes("a mapping") && prev.alternatives.includes("a finite number"))
        what = "a number or a distribution ({type: constant, value}, uniform {min, max}, exponential {mean}, lognormal {median, sigma}, normal {mean, sd}, choice {values})"
      out[prev.index] = `${m[1]}: expected ${what}, got ${m[3]}`
    }
  }
  return out
}

const pad = (n: number, width: number) => String(n).padStart(width, "0")

/** The physical nodes of `cluster.physical` (one node, or `count` nodes named `<prefix>NN`); duplicates go to `problems`. */
export const physicalNodes = (entries: ReadonlyArray<PhysicalEntry>, problems: Array<string>): Array<SimPhysicalNode> => {
  const out: Array<SimPhysicalNode> = []
  const seen = new Map<string, number>()
  entries.forEach((e, i) => {
    const names =
      e.hostname !== undefined
        ? [e.hostname]
        : Array.from({ length: e.count! }, (_, k) => `${e.prefix ?? DEFAULTS.physicalPrefix}${pad(k + 1, Math.max(2, String(e.count).length))}`)
    for (const hostname of names) {
      const before = seen.get(hostname)
      if (before !== undefined) {
        problems.push(`cluster.physical.${i}: host ${hostname} is also defined by cluster.physical.${before}`)
        continue
      }
      seen.set(hostname, i)
      out.push({ hostname, cores: e.cores, ...(e.properties !== undefined ? { properties: e.properties } : {}) })
    }
  })
  return out
}

/** Reads YAML text into a plain document; syntax errors name the line. */
export const parseScenarioText = (text: string, source: string): Either.Either<unknown, ScenarioError> => {
  try {
    const doc = parseDocument(text, { version: "1.1", prettyErrors: true })
    if (doc.errors.length > 0) return Either.left(scenarioError(source, doc.errors.map((e) => `YAML syntax error: ${firstLine(e.message)}`)))
    return Either.right(doc.toJS({ maxAliasCount: 1000 }))
  } catch (e) {
    return Either.left(scenarioError(source, [`YAML syntax error: ${firstLine((e as Error).message)}`]))
  }
}

const readText = (path: string): Either.Either<string, string> => {
  try {
    return Either.right(readFileSync(path, "utf8"))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return Either.left(
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory, not a file"
          : code === "EACCES" || code === "EPERM"
            ? "permission denied"
            : firstLine((e as Error).message)
    )
  }
}

// ---------------------------------------------------------------- overrides (--set)

/**
 * A `--set` value: YAML, so `300` is a number, `true` a boolean and
 * `{type: uniform, min: 60, max: 300}` a mapping; anything that does not parse
 * is taken as a string.
 */
export const parseSetValue = (text: string): unknown => {
  try {
    return parseYaml(text, { version: "1.1" })
  } catch {
    return text
  }
}

/**
 * Sets `path` (dot-separated; numbers index lists) in a parsed scenario
 * document, creating mappings on the way. A path under `config.` in a scenario
 * that names a `config_file` first copies that file into the document (the
 * file itself is not changed). Returns the new document or a message.
 */
export const applySet = (doc: unknown, path: string, value: unknown, baseDir: string): Either.Either<unknown, string> => {
  const keys = path.split(".")
  if (path === "" || keys.some((k) => k === "")) return Either.left(`--set ${path}: expected a dotted key path such as config.dynamic-cluster.max_idle_time`)
  if (!isRecord(doc)) return Either.left(`--set ${path}: the scenario is not a mapping`)
  const root: Record<string, unknown> = structuredClone(doc)
  if (keys[0] === "config" && keys.length > 1 && root.config === undefined && typeof root.config_file === "string") {
    const file = isAbsolute(root.config_file) ? root.config_file : resolve(baseDir, root.config_file)
    const text = readText(file)
    if (Either.isLeft(text)) return Either.left(`--set ${path}: cannot read config_file ${file}: ${text.left}`)
    try {
      root.config = parseYaml(text.right, { version: "1.1", uniqueKeys: false })
    } catch (e) {
      return Either.left(`--set ${path}: config_file ${file}: YAML syntax error: ${firstLine((e as Error).message)}`)
    }
    delete root.config_file
  }
  let cur: unknown = root
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]
    const at = keys.slice(0, i + 1).join(".")
    if (Array.isArray(cur)) {
      const idx = Number(k)
      if (!Number.isInteger(idx) || idx < 0 || idx >= cur.length) return Either.left(`--set ${path}: ${at}: no list item ${k} (the list has ${cur.length})`)
      cur = cur[idx]
    } else if (isRecord(cur)) {
      if (cur[k] === undefined || cur[k] === null) cur[k] = {}
      cur = cur[k]
    }
    if (!isRecord(cur) && !Array.isArray(cur)) return Either.left(`--set ${path}: ${at} is ${show(cur)}, not a mapping or list`)
  }
  const last = keys[keys.length - 1]
  if (Array.isArray(cur)) {
    const idx = Number(last)
    if (!Number.isInteger(idx) || idx < 0 || idx > cur.length) return Either.left(`--set ${path}: no list item ${last} (the list has ${cur.length})`)
    cur[idx] = value
  } else (cur as Record<string, unknown>)[last] = value
  return Either.right(root)
}

// ---------------------------------------------------------------- feasibility

interface NodeGroup {
  readonly count: number
  readonly cores: number
  readonly properties: ReadonlyArray<string>
  readonly queue: string | null
  readonly account: string | null
  /** Cloud groups only grow for jobs of monitored queues. */
  readonly cloud: boolean
}

/**
 * Whether a job could ever start on the largest cluster the scenario allows
 * (physical nodes plus every resource at min(quantity.max, quota)). A job
 * that never can would keep the run going forever.
 */
const makeFeasibility = (groups: ReadonlyArray<NodeGroup>, monitored: ReadonlyArray<string>) => {
  const cache = new Map<string, boolean>()
  return (j: WorkloadJob): boolean => {
    const key = `${j.cores}/${j.cpn}/${j.queue}/${j.account}/${j.property}`
    const hit = cache.get(key)
    if (hit !== undefined) return hit
    const fitting = groups.filter(
      (g) =>
        g.count > 0 &&
        (g.queue === null || g.queue === j.queue) &&
        (g.account === null || g.account === j.account) &&
        (j.property === null || g.properties.includes(j.property)) &&
        (!g.cloud || monitored.length === 0 || (j.queue !== null && monitored.includes(j.queue)))
    )
    let ok: boolean
    if (j.cpn <= 0) ok = fitting.reduce((a, g) => a + g.count * g.cores, 0) >= j.cores
    else {
      const k = Math.ceil(j.cores / j.cpn)
      const rem = j.cores - (k - 1) * j.cpn
      const big = fitting.reduce((a, g) => a + (g.cores >= j.cpn ? g.count : 0), 0)
      const small = fitting.reduce((a, g) => a + (g.cores >= rem && g.cores < j.cpn ? g.count : 0), 0)
      ok = big >= k || (big >= k - 1 && small >= 1)
    }
    cache.set(key, ok)
    return ok
  }
}

const describeJob = (j: WorkloadJob) =>
  `job ${j.id} (${j.cores} core(s)${j.cpn > 0 ? `, ${j.cpn} per node` : ""}${j.queue !== null ? `, queue ${j.queue}` : ""}${j.account !== null ? `, account ${j.account}` : ""}${j.property !== null ? `, property ${j.property}` : ""})`

// ---------------------------------------------------------------- decode

/**
 * The simulated cloud of resource `name`: its behaviour (`clouds.<name>` of a
 * scenario, or `cloud.<name>.config` of a simulated resource under --config)
 * with the defaults filled in; instance names start with the resource's
 * instance_name_prefix (else its name).
 */
export const simResourceSpec = (name: string, c: CloudSim, rc: Pick<ResourceConfig, "config" | "price" | "billing">): SimResourceSpec => {
  const prefix = rc.config.instance_name_prefix
  return {
    name,
    cores: c.cores,
    prefix: typeof prefix === "string" && prefix !== "" ? prefix : name,
    bootTime: c.boot_time ?? DEFAULTS.bootTime,
    configTime: c.config_time ?? DEFAULTS.configTime,
    bootFailureRate: c.boot_failure_rate ?? 0,
    quota: c.quota ?? null,
    apiErrorRate: c.api_error_rate ?? 0,
    destroyTime: c.destroy_time ?? DEFAULTS.destroyTime,
    price: c.price !== undefined ? c.price : (rc.price ?? null),
    ...(rc.billing !== undefined && rc.billing !== null ? { billing: rc.billing } : {}),
    ...(c.spot === true ? { spot: true } : {})
  }
}

/**
 * Decodes a parsed scenario document. Relative paths are resolved against
 * `baseDir`. Every problem is collected before giving up.
 */
export const decodeScenario = (input: unknown, options: DecodeOptions): Either.Either<LoadedScenario, ScenarioError> => {
  const source = options.source ?? "scenario"
  if (!isRecord(input)) {
    return Either.left(
      scenarioError(source, [`(top level): expected a mapping with at least config (or config_file), clouds and workload, got ${show(input ?? null)}`])
    )
  }
  const doc: Record<string, unknown> = { ...input }
  // conveniences: a single physical group instead of a list, empty sections
  if (isRecord(doc.cluster) && isRecord(doc.cluster.physical)) doc.cluster = { ...doc.cluster, physical: [doc.cluster.physical] }
  for (const k of ["cluster", "clouds", "faults"]) if (doc[k] === null) delete doc[k]

  const problems: Array<string> = []
  const warnings: Array<string> = []
  const allowUnknownKeys = options.allowUnknownKeys === true
  for (const e of unknownKeyEntries(ScenarioDoc, doc)) {
    if (allowUnknownKeys) warnings.push(`${unknownKeyProblem(e)}, ignored`)
    else problems.push(unknownKeyProblem(e))
  }

  const decoded = Schema.decodeUnknownEither(ScenarioDoc, { errors: "all", onExcessProperty: "ignore" })(doc)
  if (Either.isLeft(decoded)) problems.push(...focus(formatParseError(decoded.left, doc)))
  const s = Either.isRight(decoded) ? decoded.right : undefined
  // Each section on its own too, so that one bad section does not hide the
  // problems the others would show in the cross-checks below.
  const part = <A, I>(schema: Schema.Schema<A, I>, v: unknown): A | undefined => {
    const r = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })(v)
    return Either.isRight(r) ? r.right : undefined
  }
  const cloudsPart = doc.clouds === undefined ? {} : part(Schema.Record({ key: Schema.String, value: CloudSim }), doc.clouds)
  const faultsPart = Array.isArray(doc.faults) ? doc.faults.map((f) => part(Fault, f)) : []
  const clusterPart = doc.cluster === undefined ? {} : part(ClusterSim, doc.cluster)
  const workloadPart = part(WorkloadSpec, doc.workload)
  const seedPart = part(Schema.Int, doc.seed)

  // ------------------------------------------------ the scaler configuration
  let config: ConfigFile | undefined
  let configDocument: unknown
  if (doc.config !== undefined && doc.config_file !== undefined) problems.push("config_file: give either config (inline) or config_file, not both")
  else if (doc.config === undefined && doc.config_file === undefined) problems.push("config: is required but missing (or give config_file: a path)")
  else if (doc.config !== undefined) {
    const c = decodeConfig(doc.config, "config", { allowUnknownKeys })
    if (Either.isLeft(c)) problems.push(...c.left.problems.map((p) => (p.startsWith("(top level)") ? `config${p.slice("(top level)".length)}` : `config.${p}`)))
    else {
      config = c.right.config
      configDocument = c.right.document
      warnings.push(...c.right.warnings.map((w) => `config.${w}`))
    }
  } else if (typeof doc.config_file === "string") {
    const path = isAbsolute(doc.config_file) ? doc.config_file : resolve(options.baseDir, doc.config_file)
    if (!existsSync(path)) problems.push(`config_file: configuration file not found: ${path}`)
    else {
      const c = loadConfigFile(path, { allowUnknownKeys })
      if (Either.isLeft(c)) problems.push(...c.left.problems.map((p) => `config_file (${path}): ${p}`))
      else {
        config = c.right.config
        configDocument = c.right.document
        warnings.push(...c.right.warnings.map((w) => `config_file (${path}): ${w}`))
      }
    }
  }
  if (config !== undefined) {
    if (config.cluster.type !== "simulated")
      warnings.push(`config.cluster.type: ${config.cluster.type} is replaced by the simulated batch system of this scenario`)
    for (const [name, r] of Object.entries(config.cloud)) {
      if (r.type !== "simulated") warnings.push(`config.cloud.${name}.type: ${r.type} is replaced by the simulated cloud clouds.${name}`)
    }
    const policy = config["dynamic-cluster"].policy
    if (!scenarioPolicyKnown(policy))
      problems.push(`config.dynamic-cluster.policy: ${unknownPolicy(policy)}`)
  }

  // ------------------------------------------------ clouds ↔ configuration
  // (from the raw inline configuration too when it has errors of its own)
  const rawConfig = isRecord(doc.config) ? doc.config : undefined
  if (config === undefined && rawConfig !== undefined) {
    const dc = rawConfig["dynamic-cluster"]
    const policy = isRecord(dc) ? dc.policy : undefined
    if (typeof policy === "string" && !scenarioPolicyKnown(policy))
      problems.push(`config.dynamic-cluster.policy: ${unknownPolicy(policy)}`)
  }
  const configResources =
    config !== undefined ? Object.keys(config.cloud) : rawConfig !== undefined && isRecord(rawConfig.cloud) ? Object.keys(rawConfig.cloud) : undefined
  const clouds = cloudsPart
  const cloudNames = doc.clouds === undefined ? [] : isRecord(doc.clouds) ? Object.keys(doc.clouds) : undefined
  if (configResources !== undefined && cloudNames !== undefined) {
    for (const name of configResources) {
      if (!cloudNames.includes(name))
        problems.push(`clouds.${name}: is required but missing: the configuration has a cloud resource ${name}, say how its simulated cloud behaves (at least cores)`)
    }
    for (const name of cloudNames) {
      if (!configResources.includes(name))
        problems.push(`clouds.${name}: no cloud resource ${name} in the configuration (it has: ${configResources.join(", ") || "none"})`)
    }
  }
  const knownResources = configResources ?? cloudNames
  if (faultsPart !== undefined && knownResources !== undefined) {
    faultsPart.forEach((f, i) => {
      if (f !== undefined && "resource" in f && f.resource !== undefined && !knownResources.includes(f.resource))
        problems.push(`faults.${i}.resource: no cloud resource ${f.resource} (known: ${knownResources.join(", ") || "none"})`)
    })
  }
  if (faultsPart !== undefined && cloudsPart !== undefined) {
    const spotNames = Object.entries(cloudsPart).filter(([, c]) => c.spot === true).map(([n]) => n)
    faultsPart.forEach((f, i) => {
      if (f === undefined || f.kind !== "spot_interruption") return
      if (f.resource !== undefined && cloudsPart[f.resource] !== undefined && !spotNames.includes(f.resource))
        problems.push(`faults.${i}.resource: ${f.resource} is not a spot resource (set clouds.${f.resource}.spot: true)`)
      else if (f.resource === undefined && spotNames.length === 0)
        problems.push(`faults.${i}: a spot_interruption needs a spot resource (set clouds.<name>.spot: true)`)
    })
  }

  const physical = clusterPart?.physical !== undefined ? physicalNodes(clusterPart.physical, problems) : []

  // ------------------------------------------------ the workload
  const seed = options.seed ?? seedPart ?? DEFAULTS.seed
  let workload: Workload | undefined
  let trace: LoadedScenario["trace"] = null
  /** A catalogue trace that is neither in ../shared/traces nor in the cache: the one line to say. */
  let missingTrace: string | null = null
  if (workloadPart !== undefined) {
    const spec = workloadPart
    if (spec.type === "swf") {
      const found = resolveTraceFile(spec.file, options.baseDir)
      const path = "path" in found ? found.path : ""
      if ("problem" in found) {
        if (found.missing) missingTrace = found.problem
        problems.push(`workload.file: ${found.problem}`)
      } else if (statSync(path).isDirectory()) problems.push(`workload.file: ${path} is a directory, not a trace file`)
      else {
        const w = readSwf({ path }, swfOptionsOfSpec(spec))
        if (Either.isLeft(w)) problems.push(`workload.file: ${w.left.message}`)
        else {
          workload = w.right
          trace = { lines: w.right.lines, outsideWindow: w.right.outsideWindow, skippedBy: w.right.skippedBy }
        }
      }
    } else {
      const w = loadWorkload(spec, { seed, baseDir: options.baseDir })
      if (Either.isLeft(w)) problems.push(`workload: ${w.left.message}`)
      else workload = w.right
    }
  }

  if (missingTrace !== null && problems.length === 1)
    return Either.left(new ScenarioError({ source, problems, warnings, message: missingTrace }))
  if (problems.length > 0 || s === undefined || config === undefined || workload === undefined || clouds === undefined) {
    if (problems.length === 0) problems.push("(top level): the scenario could not be decoded")
    return Either.left(scenarioError(source, problems, warnings))
  }

  // ------------------------------------------------ the world
  const resources: Array<SimResourceSpec> = Object.entries(config.cloud).map(([name, rc]) => simResourceSpec(name, clouds[name], rc))

  const drain = s.drain ?? DEFAULTS.drain
  const maxTime = s.max_time ?? null
  const jobs = workload.jobs

  // jobs that can never start would keep the run going until max_time
  const groups: Array<NodeGroup> = [
    ...physical.map((p) => ({ count: 1, cores: p.cores, properties: p.properties ?? [], queue: null, account: null, cloud: false })),
    ...resources.map((r) => {
      const rc = config!.cloud[r.name]
      const res = rc.reservation
      return {
        count: Math.min(rc.quantity.max, r.quota ?? Infinity),
        cores: r.cores,
        properties: res.property !== null ? [res.property] : [],
        queue: res.queue,
        account: res.account,
        cloud: true
      }
    })
  ]
  const monitored = config.cluster.config.queue_to_monitor ?? []
  const feasible = makeFeasibility(groups, monitored)
  const never = jobs.filter((j) => !feasible(j))
  if (never.length > 0) {
    const list = never.slice(0, 3).map(describeJob).join("; ") + (never.length > 3 ? `; and ${never.length - 3} more` : "")
    const msg =
      `workload: ${never.length} job(s) can never start, even with every resource at quantity.max (and quota) and every physical node free: ${list}. ` +
      "Raise quantity.max, skip large jobs (max_cores for a trace) or set max_time"
    if (maxTime === null) return Either.left(scenarioError(source, [msg], warnings))
    warnings.push(msg)
  }
  // The classic allocator puts all new nodes of a job in one resource; a job
  // that fits neither the physical nodes alone nor any single resource only
  // starts when enough nodes happen to be up (the run may stall).
  const physicalOnly = makeFeasibility(groups.filter((g) => !g.cloud), monitored)
  const singles = groups.filter((g) => g.cloud).map((g) => makeFeasibility([g], monitored))
  const orphans = jobs.filter((j) => feasible(j) && !physicalOnly(j) && !singles.some((f) => f(j)))
  if (orphans.length > 0) {
    const list = orphans.slice(0, 3).map(describeJob).join("; ") + (orphans.length > 3 ? `; and ${orphans.length - 3} more` : "")
    warnings.push(
      `workload: ${orphans.length} job(s) fit no single cloud resource at quantity.max and not the physical nodes alone: ${list}. ` +
        "The classic policy starts all nodes of a job in one resource, so these start only when enough nodes happen to be up"
    )
  }

  // ------------------------------------------------ faults
  let lo = Infinity, hi = -Infinity
  for (const j of jobs) {
    if (j.submit < lo) lo = j.submit
    if (j.submit + j.runtime > hi) hi = j.submit + j.runtime
  }
  if (jobs.length === 0) {
    lo = 0
    hi = maxTime ?? drain
  }
  const faults: Array<FaultSpec> = []
  const randomRestarts: Array<number> = []
  const restartRng = makeRng(seed).fork("scenario").fork("restarts")
  for (const f of s.faults ?? []) {
    switch (f.kind) {
      case "restart":
        if (f.at !== undefined) faults.push({ kind: "restart", at: f.at })
        else {
          for (let k = 0; k < f.random!; k++) randomRestarts.push(Math.round(restartRng.uniform(lo, hi) * 1000) / 1000)
        }
        break
      case "instance_death":
        faults.push({ kind: "instance_death", at: f.at, resource: f.resource, count: f.count ?? 1 })
        break
      case "batch_failure":
        faults.push({ kind: "batch_failure", at: f.at, duration: f.duration, mode: f.mode ?? "fail" })
        break
      case "spot_interruption":
        faults.push({
          kind: "spot_interruption",
          at: f.at,
          resource: f.resource,
          count: f.count ?? 1,
          warning: f.warning ?? SPOT_WARNING_DEFAULT,
          code: f.code ?? "instance-terminated-by-price",
          resubmit: f.resubmit ?? false
        })
        break
      default:
        faults.push(f)
    }
  }
  randomRestarts.sort((a, b) => a - b)
  for (const at of randomRestarts) faults.push({ kind: "restart", at })

  const world: WorldSpec = {
    physical,
    resources,
    jobs,
    faults,
    schedulerCycle: s.cluster?.scheduler_cycle ?? DEFAULTS.schedulerCycle,
    drain,
    maxTime
  }
  const naturalEnd = (jobs.length === 0 ? 0 : hi) + drain
  return Either.right({
    name: s.name ?? options.defaultName ?? "scenario",
    description: s.description ?? null,
    seed,
    config,
    configDocument,
    world,
    epoch: s.epoch ?? DEFAULTS.epoch,
    apiLatency: s.api_latency ?? DEFAULTS.apiLatency,
    skippedJobs: workload.skipped,
    warnings,
    workloadSource: workload.source,
    expectedEnd: maxTime === null ? naturalEnd : Math.min(maxTime, naturalEnd),
    randomRestarts,
    trace,
    operatorActions: [...(s.operator_actions ?? [])].sort((x, y) => x.at - y.at),
    currency: s.report?.currency ?? null
  })
}

/** The name a scenario file gets when it has no `name:` (its file name without extension). */
export const scenarioNameOf = (path: string) => basename(path, extname(path))

/** Reads, parses and decodes a scenario file; relative paths in it are resolved against its directory. */
export const loadScenarioFile = (
  path: string,
  options: { readonly seed?: number; readonly allowUnknownKeys?: boolean } = {}
): Either.Either<LoadedScenario, ScenarioError> =>
  Either.flatMap(readScenarioDocument(path), (doc) => decodeScenarioAt(path, doc, options))

/** The parsed (not yet decoded) document of a scenario file, for `--set` overrides. */
export const readScenarioDocument = (path: string): Either.Either<unknown, ScenarioError> => {
  const text = readText(path)
  if (Either.isLeft(text)) return Either.left(scenarioError(path, [`${path}: ${text.left}`]))
  return parseScenarioText(text.right, path)
}

/** Decodes a document that was read from `path` (paths in it are relative to the file). */
export const decodeScenarioAt = (path: string, doc: unknown, options: { readonly seed?: number; readonly allowUnknownKeys?: boolean } = {}) =>
  decodeScenario(doc, {
    baseDir: dirname(resolve(path)),
    source: path,
    defaultName: scenarioNameOf(path),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.allowUnknownKeys === true ? { allowUnknownKeys: true } : {})
  })
