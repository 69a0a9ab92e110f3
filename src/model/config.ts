/**
 * The configuration file of SPEC §2. A file written for the first version
 * loads unchanged; wrong types stop start-up with the key path; unknown keys
 * are warnings.
 */
import { Either, ParseResult, Schema, SchemaAST } from "effect"
import { parse as parseYaml } from "yaml"

// ---------------------------------------------------------------- helpers

const nonNegInt = Schema.Number.pipe(Schema.int(), Schema.nonNegative()).annotations({
  message: () => "expected a non-negative integer"
})
const posInt = Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({
  message: () => "expected a positive integer"
})
const posNumber = Schema.Number.pipe(Schema.positive()).annotations({
  message: () => "expected a positive number (seconds)"
})
const str = Schema.String.annotations({ message: () => "expected a string" })
const bool = Schema.Boolean.annotations({ message: () => "expected true or false" })
const optStr = Schema.optionalWith(Schema.NullOr(str), { default: () => null })
const dflt = <S extends Schema.Schema.Any>(s: S, d: () => Schema.Schema.Type<S>) =>
  Schema.optionalWith(s as any, { default: d as any }) as unknown as Schema.optionalWith<
    S,
    { default: () => Schema.Schema.Type<S> }
  >
const AnyRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

// ---------------------------------------------------------------- dynamic-cluster

export const AdminServer = Schema.Struct({
  port: dflt(Schema.Number.pipe(Schema.int(), Schema.between(0, 65535)).annotations({
    message: () => "expected a TCP port number (0-65535)"
  }), () => 8001),
  host: dflt(str, () => "127.0.0.1"),
  /** Bearer token required for PUT/DELETE (and GETs with token_for_reads). */
  token: optStr,
  token_for_reads: dflt(bool, () => false)
})

export const CheckerConfig = Schema.Struct({
  port: Schema.optional(Schema.Struct({ number: posInt, timeout: Schema.optional(posNumber) })),
  plugin: Schema.optional(Schema.Struct({ name: str }, Schema.Record({ key: Schema.String, value: Schema.Unknown }))),
  command: Schema.optional(Schema.Struct({ command: str, timeout: Schema.optional(posNumber) }))
})
export type CheckerConfig = typeof CheckerConfig.Type

export const DynamicClusterSection = Schema.Struct({
  auto_mode: dflt(bool, () => true),
  "admin-server": dflt(AdminServer, () => ({ port: 8001, host: "127.0.0.1", token: null, token_for_reads: false })),
  "config-checker": Schema.optionalWith(Schema.NullOr(CheckerConfig), { default: () => null }),
  worker_thread_number: Schema.optional(posInt),
  worker_process_number: Schema.optional(posInt),
  /** The classic seed's spelling of the same setting. */
  worker_number: Schema.optional(posInt),
  max_idle_time: dflt(posNumber, () => 600),
  max_down_time: dflt(posNumber, () => 480),
  max_launch_time: dflt(posNumber, () => 1200),
  cluster_poller_interval: dflt(posNumber, () => 10),
  cloud_poller_interval: dflt(posNumber, () => 20),
  auto_provision_interval: dflt(posNumber, () => 60),
  post_vm_provision_command: optStr,
  post_vm_destroy_command: optStr,
  /** Provisioning policy: "classic" (SPEC §4) or another registered policy. */
  policy: dflt(str, () => "classic")
})

// ---------------------------------------------------------------- cluster

export const ClusterType = Schema.Literal("torque", "sge", "slurm", "simulated").annotations({
  message: () => "expected one of torque, sge, slurm, simulated"
})
export const ClusterConfig = Schema.Struct(
  {
    queue_to_monitor: dflt(
      Schema.Union(Schema.Array(str), Schema.Null).annotations({ message: () => "expected a list of queue names" }),
      () => []
    ),
    queued_job_number_to_display: dflt(Schema.Number.pipe(Schema.int()).annotations({
      message: () => "expected an integer"
    }), () => 30),
    post_add_node_command: optStr,
    post_remove_node_command: optStr
  },
  // command templates (qstat_command, ...) are checked by each live layer
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)
export const ClusterSection = Schema.Struct({
  type: ClusterType,
  config: dflt(ClusterConfig, () => ({
    queue_to_monitor: [],
    queued_job_number_to_display: 30,
    post_add_node_command: null,
    post_remove_node_command: null
  })),
  /** For type "simulated": the scenario whose batch system stands in for the cluster. */
  scenario: Schema.optional(str)
})

// ---------------------------------------------------------------- cloud

export const Quantity = Schema.Struct({
  min: dflt(nonNegInt, () => 0),
  max: nonNegInt
}).pipe(
  Schema.filter((q) => q.min <= q.max || "min must not be greater than max")
)
export const ReservationConfig = Schema.Struct({
  queue: optStr,
  account: optStr,
  property: optStr
})
export const CloudType = Schema.Literal("openstack", "aws", "simulated").annotations({
  message: () => "expected one of openstack, aws, simulated"
})
export const ResourceConfig = Schema.Struct({
  type: CloudType,
  priority: dflt(Schema.Number.pipe(Schema.int()).annotations({ message: () => "expected an integer" }), () => 1),
  quantity: Quantity,
  reservation: dflt(ReservationConfig, () => ({ queue: null, account: null, property: null })),
  config: dflt(AnyRecord, () => ({})),
  /** Price per node-hour, for reports and price-aware policies. */
  price: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
})
export type ResourceConfig = typeof ResourceConfig.Type

// ---------------------------------------------------------------- plugins, logging

export const GraphitePlugin = Schema.Struct({
  arguments: Schema.Struct({
    hostname: dflt(str, () => "localhost"),
    port: dflt(posInt, () => 2003),
    prefix: dflt(str, () => "dynamiccluster")
  }),
  class_name: Schema.optional(str),
  interval: Schema.optional(posNumber)
})
export const PluginsSection = Schema.Struct({ graphite: Schema.optional(GraphitePlugin) }, AnyRecord)

export const LoggingSection = Schema.Struct({
  log_level: dflt(Schema.Number.pipe(Schema.int(), Schema.between(0, 3)).annotations({
    message: () => "expected 0 (error) .. 3 (debug)"
  }), () => 2),
  log_location: optStr,
  log_max_size: dflt(posInt, () => 10 * 1024 * 1024),
  log_format: Schema.optional(str)
})

// ---------------------------------------------------------------- whole file

export const ConfigFile = Schema.Struct({
  "dynamic-cluster": dflt(DynamicClusterSection, () => Schema.decodeUnknownSync(DynamicClusterSection)({})),
  cluster: ClusterSection,
  cloud: dflt(Schema.Record({ key: Schema.String, value: ResourceConfig }), () => ({})),
  plugins: dflt(PluginsSection, () => ({})),
  logging: dflt(LoggingSection, () => Schema.decodeUnknownSync(LoggingSection)({}))
})
export type ConfigFile = typeof ConfigFile.Type

/** The settings the engine reads, with aliases resolved. */
export interface EngineSettings {
  readonly autoMode: boolean
  readonly workers: number
  readonly maxIdleTime: number
  readonly maxDownTime: number
  readonly maxLaunchTime: number
  readonly clusterPollerInterval: number
  readonly cloudPollerInterval: number
  readonly autoProvisionInterval: number
  readonly postVmProvisionCommand: string | null
  readonly postVmDestroyCommand: string | null
  readonly policy: string
  readonly queueToMonitor: ReadonlyArray<string>
  readonly queuedJobNumberToDisplay: number
  readonly postAddNodeCommand: string | null
  readonly postRemoveNodeCommand: string | null
}

export const engineSettings = (c: ConfigFile): EngineSettings => {
  const d = c["dynamic-cluster"]
  return {
    autoMode: d.auto_mode,
    workers: d.worker_thread_number ?? d.worker_process_number ?? d.worker_number ?? 2,
    maxIdleTime: d.max_idle_time,
    maxDownTime: d.max_down_time,
    maxLaunchTime: d.max_launch_time,
    clusterPollerInterval: d.cluster_poller_interval,
    cloudPollerInterval: d.cloud_poller_interval,
    autoProvisionInterval: d.auto_provision_interval,
    postVmProvisionCommand: d.post_vm_provision_command,
    postVmDestroyCommand: d.post_vm_destroy_command,
    policy: d.policy,
    queueToMonitor: c.cluster.config.queue_to_monitor ?? [],
    queuedJobNumberToDisplay: c.cluster.config.queued_job_number_to_display,
    postAddNodeCommand: c.cluster.config.post_add_node_command,
    postRemoveNodeCommand: c.cluster.config.post_remove_node_command
  }
}

// ---------------------------------------------------------------- errors and warnings

export class ConfigError extends Error {
  readonly _tag = "ConfigError"
  constructor(
    readonly problems: ReadonlyArray<string>,
    readonly source: string
  ) {
    super(`${source}: invalid configuration\n` + problems.map((p) => `  - ${p}`).join("\n"))
  }
}

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let v: any = input
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined
    v = v[k as any]
  }
  return v
}

const show = (v: unknown): string => {
  if (v === undefined) return "nothing"
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s
}

/** Turns a parse error into lines `key.path: expected ..., got ...`. */
export const formatParseError = (error: ParseResult.ParseError, input: unknown): ReadonlyArray<string> => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const lines = issues.map((i) => {
    const path = i.path.map(String).join(".") || "(top level)"
    if (i._tag === "Missing") return `${path}: is required but missing`
    const actual = valueAt(input, i.path)
    let msg = i.message
    // Built-in messages read "Expected X, actual Y"; make them "expected X, got Y".
    msg = msg.replace(/^Expected /, "expected ").replace(/, actual .*$/s, "")
    if (i._tag === "Unexpected") return `${path}: is not allowed here`
    return `${path}: ${msg}, got ${show(actual)}`
  })
  return [...new Set(lines)]
}

const unwrap = (ast: SchemaAST.AST): SchemaAST.AST => {
  switch (ast._tag) {
    case "Refinement":
      return unwrap(ast.from)
    case "Transformation":
      return unwrap(ast.from)
    case "Suspend":
      return unwrap(ast.f())
    default:
      return ast
  }
}

/** Keys present in the input that the schema does not know (warnings, not errors). */
export const unknownKeys = (schema: Schema.Schema.Any, input: unknown): ReadonlyArray<string> => {
  const out: Array<string> = []
  const walk = (ast0: SchemaAST.AST, v: unknown, path: ReadonlyArray<string>) => {
    const ast = unwrap(ast0)
    if (ast._tag === "Union") {
      for (const t of ast.types) {
        const u = unwrap(t)
        if (u._tag === "TypeLiteral" && v !== null && typeof v === "object" && !Array.isArray(v)) return walk(u, v, path)
      }
      return
    }
    if (ast._tag !== "TypeLiteral" || v === null || typeof v !== "object" || Array.isArray(v)) return
    const known = new Map(ast.propertySignatures.map((p) => [String(p.name), p.type]))
    const record = ast.indexSignatures[0]
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      const t = known.get(k)
      if (t !== undefined) walk(t, val, [...path, k])
      else if (record !== undefined) {
        const rt = unwrap(record.type)
        if (rt._tag === "TypeLiteral" || rt._tag === "Union" || rt._tag === "Refinement") walk(record.type, val, [...path, k])
      } else out.push([...path, k].join("."))
    }
  }
  walk(Schema.encodedSchema(schema).ast, input, [])
  return out
}

export interface LoadedConfig {
  readonly config: ConfigFile
  readonly warnings: ReadonlyArray<string>
}

/** Decodes an already-parsed document (YAML or JSON). */
export const decodeConfig = (input: unknown, source = "configuration"): Either.Either<LoadedConfig, ConfigError> => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return Either.left(new ConfigError(["(top level): expected a mapping of sections (dynamic-cluster, cluster, cloud, ...)"], source))
  }
  const r = Schema.decodeUnknownEither(ConfigFile, { errors: "all", onExcessProperty: "ignore" })(input)
  if (Either.isLeft(r)) return Either.left(new ConfigError(formatParseError(r.left, input), source))
  const warnings = unknownKeys(ConfigFile, input).map((k) => `${k}: unknown key, ignored`)
  return Either.right({ config: r.right, warnings })
}

/** Parses YAML text and decodes it. YAML syntax errors name the line. */
export const parseConfigText = (text: string, source = "configuration"): Either.Either<LoadedConfig, ConfigError> => {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (e) {
    return Either.left(new ConfigError([`YAML syntax error: ${(e as Error).message.split("\n")[0]}`], source))
  }
  return decodeConfig(doc, source)
}

// ---------------------------------------------------------------- secrets

const SECRET = /password|secret|token/i

/** A copy with every secret value (SPEC §2) replaced; for API output and logs. */
export const redactSecrets = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(redactSecrets)
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {}
    for (const [k, val] of Object.entries(v)) {
      if (SECRET.test(k)) continue
      out[k] = redactSecrets(val)
    }
    return out
  }
  return v
}
