/**
 * The configuration file of SPEC §2. A file written for the first version
 * loads unchanged; wrong types stop start-up with the key path; an unknown key
 * is an error with a did-you-mean suggestion (a misspelt key would silently
 * leave the default in force), except the keys the first version read that we
 * do not (FIRST_VERSION_IGNORED: warnings), or with `allowUnknownKeys`.
 */
import { Data, Either, Option, ParseResult, Schema, SchemaAST } from "effect"
import { readFileSync } from "node:fs"
import { isMap, isPair, isScalar, isSeq, parseDocument } from "yaml"
import { Billing } from "./billing.ts"
import { didYouMean } from "./did-you-mean.ts"

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
  token_for_reads: dflt(bool, () => false),
  /** HTTPS for the API and dashboard: PEM files, read again on SIGHUP (docs/install.md). */
  tls: Schema.optional(Schema.Struct({ cert_file: str, key_file: str }))
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
  /**
   * Reconciliation (docs/clouds.md "Reconciliation"): each resource's
   * instances are listed every this many cloud polls (one paged list call
   * per resource), to find instances gone behind the scaler's back and ones
   * it does not know.
   */
  reconcile_every_polls: dflt(posInt, () => 6),
  post_vm_provision_command: optStr,
  post_vm_destroy_command: optStr,
  /**
   * Provisioning policy: a supported policy's name (src/engine/policy.ts:
   * classic, demand, lean; check-config and run refuse others, experiments
   * run only in simulations). Default `lean`, measured
   * better than the first version's allocator on every compare scenario
   * (docs/policies.md); `classic` (SPEC §4) keeps the first version's.
   */
  policy: dflt(str, () => "lean"),
  /**
   * What one core-hour of a queued job's wait is worth, in the unit of
   * `cloud.<r>.price` (docs/policies.md "The trade-off knob"). `lean`
   * starts a node in a priced resource only when the wait it saves, at this
   * value per core-hour, pays its extra billed cost, and weighs its spare
   * boot against it; unset, `lean` uses its default (0.2) and `demand`
   * boots its spares as before the knob existed.
   */
  wait_value: Schema.optional(Schema.Number.pipe(Schema.finite(), Schema.nonNegative()).annotations({
    message: () => "expected a non-negative number (money per waiting core-hour)"
  }))
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
  scenario: Schema.optional(str),
  /**
   * How the cluster grows: "dynamic" (default: the scaler adds and removes
   * nodes) or, for Slurm, "power_save" (Slurm's own power saving decides and
   * calls `dyncluster slurm-resume` / `slurm-suspend`).
   */
  mode: Schema.optional(
    Schema.Literal("dynamic", "power_save").annotations({ message: () => "expected dynamic or power_save" })
  )
})

// ---------------------------------------------------------------- cloud

export const Quantity = Schema.Struct({
  min: dflt(nonNegInt, () => 0),
  max: nonNegInt
}).pipe(
  Schema.filter((q) => q.min <= q.max || `min (${q.min}) must not be greater than max (${q.max})`)
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
  price: Schema.optional(Schema.Number.pipe(Schema.nonNegative()).annotations({
    message: () => "expected a non-negative number"
  })),
  /** How the price is billed (src/model/billing.ts); without it: per second, no minimum. */
  billing: Schema.optional(Billing)
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
  readonly reconcileEveryPolls: number
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
    reconcileEveryPolls: d.reconcile_every_polls,
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

/** A configuration that cannot be used: every problem names its key path; the message is `SOURCE: HEADLINE` and one `  - problem` a line. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly problems: ReadonlyArray<string>
  readonly source: string
  readonly headline: string
  readonly message: string
}> {
  constructor(problems: ReadonlyArray<string>, source: string, headline: string = "invalid configuration") {
    super({ problems, source, headline, message: `${source}: ${headline}\n` + problems.map((p) => `  - ${p}`).join("\n") })
  }
}

const show = (v: unknown): string => {
  if (v === undefined) return "nothing"
  let s: string | undefined
  try {
    // a mapping shown in a message never shows its secrets
    s = JSON.stringify(redactSecrets(v))
  } catch {
    s = undefined
  }
  if (s === undefined) return String(v)
  return s.length > 60 ? s.slice(0, 57) + "..." : s
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v)

/** The message annotation of a schema node, if it has one. */
const ownMessage = (ast: SchemaAST.AST, issue: ParseResult.ParseIssue): string | undefined =>
  Option.getOrUndefined(
    Option.flatMap(SchemaAST.getMessageAnnotation(ast), (f) => {
      const m = f(issue)
      if (typeof m === "string") return Option.some(m)
      if (typeof m === "object" && m !== null && "message" in m && typeof m.message === "string") {
        return Option.some(m.message)
      }
      return Option.none()
    })
  )

/** What a schema node accepts, in words, for nodes without a message annotation. */
const describe = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "StringKeyword":
      return "a string"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "true or false"
    case "TypeLiteral":
      return "a mapping"
    case "TupleType":
      return "a list"
    case "Literal":
      return JSON.stringify(ast.literal)
    case "UndefinedKeyword":
      return "nothing"
    case "Union":
      return ast.types.map(describe).join(" or ")
    case "Refinement":
    case "Transformation":
      return describe(ast.from)
    default:
      return String(ast)
  }
}

/** A union member failure that only says "expected undefined/null": noise when another member explains more. */
const isAbsentAlternative = (issue: ParseResult.ParseIssue): boolean =>
  issue._tag === "Type" &&
  (issue.ast._tag === "UndefinedKeyword" || (issue.ast._tag === "Literal" && issue.ast.literal === null))

/**
 * Turns a parse error into lines `key.path: expected ..., got ...`, one per
 * problem (all problems, not only the first).
 */
export const formatParseError = (error: ParseResult.ParseError, _input?: unknown): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const at = (path: ReadonlyArray<PropertyKey>) => path.map(String).join(".") || "(top level)"
  const expected = (path: ReadonlyArray<PropertyKey>, msg: string, actual: unknown): void => {
    lines.push(`${at(path)}: ${msg}, got ${isSecretPath(path) ? secretShape(actual) : show(actual)}`)
  }

  const go = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): void => {
    switch (issue._tag) {
      case "Pointer":
        return go(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path])])
      case "Missing":
        lines.push(`${at(path)}: is required but missing`)
        return
      case "Unexpected":
        lines.push(`${at(path)}: is not allowed here`)
        return
      case "Forbidden":
        lines.push(`${at(path)}: cannot be checked here`)
        return
      case "Type": {
        // a filter that returned its own sentence (e.g. quantity min > max)
        if (issue.message !== undefined) {
          lines.push(`${at(path)}: ${issue.message}`)
          return
        }
        const own = ownMessage(issue.ast, issue)
        return expected(path, own ?? `expected ${describe(issue.ast)}`, issue.actual)
      }
      case "Refinement": {
        const own = ownMessage(issue.ast, issue)
        if (own !== undefined) return expected(path, own, issue.actual)
        return go(issue.issue, path)
      }
      case "Transformation": {
        const own = issue.kind === "Transformation" ? ownMessage(issue.ast, issue) : undefined
        if (own !== undefined) return expected(path, own, issue.actual)
        return go(issue.issue, path)
      }
      case "Composite": {
        const own = ownMessage(issue.ast, issue)
        if (own !== undefined) return expected(path, own, issue.actual)
        const subs = Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue]
        if (issue.ast._tag !== "Union") {
          for (const s of subs) go(s, path)
          return
        }
        // A union failed: the "or nothing"/"or null" alternatives of an
        // optional or nullable key say nothing useful; report the rest.
        const relevant = subs.filter((s) => !isAbsentAlternative(s))
        if (relevant.length === 0) return expected(path, `expected ${describe(issue.ast)}`, issue.actual)
        if (relevant.length > 1 && relevant.every((s) => s._tag === "Type")) {
          return expected(path, `expected ${relevant.map((s) => describe(s.ast)).join(" or ")}`, issue.actual)
        }
        for (const s of relevant) go(s, path)
        return
      }
    }
  }
  go(error.issue, [])
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

/** A struct whose literal-typed keys (a discriminator such as `type: swf`) all match the value. */
const literalsMatch = (ast: SchemaAST.TypeLiteral, v: unknown): boolean =>
  isRecord(v) &&
  ast.propertySignatures.every((p) => {
    const t = unwrap(p.type)
    return t._tag !== "Literal" || v[String(p.name)] === t.literal
  })

/**
 * The struct-like member of a (possibly nested) union that describes `v`: in a
 * discriminated union the member whose literal keys match, else the first.
 */
const structOf = (ast0: SchemaAST.AST, v?: unknown): SchemaAST.TypeLiteral | undefined => {
  const ast = unwrap(ast0)
  if (ast._tag === "TypeLiteral") return ast
  if (ast._tag === "Union") {
    let first: SchemaAST.TypeLiteral | undefined
    for (const t of ast.types) {
      const s = structOf(t, v)
      if (s === undefined) continue
      if (literalsMatch(s, v)) return s
      first ??= s
    }
    return first
  }
  return undefined
}

/** A key of the input that the schema does not know, with the keys it does know at that place. */
export interface UnknownKey {
  /** Dotted key path (`dynamic-cluster.max_idel_time`). */
  readonly path: string
  readonly key: string
  readonly known: ReadonlyArray<string>
}

/**
 * Keys present in the input that the schema does not know. Open maps (an
 * index signature whose values are not structs, such as cluster.config
 * templates, cloud.<res>.config, other plugins) accept any key.
 */
export const unknownKeyEntries = (schema: Schema.Schema.Any, input: unknown): ReadonlyArray<UnknownKey> => {
  const out: Array<UnknownKey> = []
  const walk = (ast0: SchemaAST.AST, v: unknown, path: ReadonlyArray<string>) => {
    if (!isRecord(v)) return
    const ast = structOf(ast0, v)
    if (ast === undefined) return
    const known = new Map(ast.propertySignatures.map((p) => [String(p.name), p.type]))
    const record = ast.indexSignatures[0]
    for (const [k, val] of Object.entries(v)) {
      const t = known.get(k)
      if (t !== undefined) walk(t, val, [...path, k])
      else if (record !== undefined) walk(record.type, val, [...path, k])
      else out.push({ path: [...path, k].join("."), key: k, known: [...known.keys()] })
    }
  }
  walk(Schema.encodedSchema(schema).ast, input, [])
  return out
}

/** The paths of `unknownKeyEntries`. */
export const unknownKeys = (schema: Schema.Schema.Any, input: unknown): ReadonlyArray<string> =>
  unknownKeyEntries(schema, input).map((e) => e.path)

/** `dynamic-cluster.max_idel_time: unknown key (did you mean max_idle_time?)` */
export const unknownKeyProblem = (e: UnknownKey, prefix = ""): string => `${prefix}${e.path}: unknown key${didYouMean(e.key, e.known)}`

/**
 * Keys the first version read that this one does not use (a file written for
 * it must load unchanged): warnings, not errors. `admin-server.debug` was its
 * web framework's debug switch.
 */
export const FIRST_VERSION_IGNORED: ReadonlyArray<string> = ["dynamic-cluster.admin-server.debug"]

export interface DecodeConfigOptions {
  /** Unknown keys are warnings instead of errors (`--allow-unknown-keys`). */
  readonly allowUnknownKeys?: boolean
}

export interface LoadedConfig {
  readonly config: ConfigFile
  /**
   * The document as written (parsed, before defaults are filled in): what
   * GET /server/config shows, secrets redacted, as the first version did.
   */
  readonly document: unknown
  readonly warnings: ReadonlyArray<string>
}

const SECTIONS = "dynamic-cluster, cluster, cloud, plugins, logging"
/** Sections that may be left empty (`plugins:` with everything commented out). */
const OPTIONAL_SECTIONS = ["dynamic-cluster", "cloud", "plugins", "logging"]

/** Decodes an already-parsed document (YAML or JSON). */
export const decodeConfig = (
  input: unknown,
  source = "configuration",
  options: DecodeConfigOptions = {}
): Either.Either<LoadedConfig, ConfigError> => {
  if (input === null || input === undefined) {
    return Either.left(new ConfigError([`(top level): the document is empty; expected a mapping of sections (${SECTIONS})`], source))
  }
  if (!isRecord(input)) {
    return Either.left(
      new ConfigError([`(top level): expected a mapping of sections (${SECTIONS}), got ${show(input)}`], source)
    )
  }
  const doc: Record<string, unknown> = { ...input }
  for (const k of OPTIONAL_SECTIONS) if (doc[k] === null) delete doc[k]
  const r = Schema.decodeUnknownEither(ConfigFile, { errors: "all", onExcessProperty: "ignore" })(doc)
  const unknown = unknownKeyEntries(ConfigFile, doc)
  const tolerated = (e: UnknownKey) => options.allowUnknownKeys === true || FIRST_VERSION_IGNORED.includes(e.path)
  const problems = [
    ...(Either.isLeft(r) ? formatParseError(r.left, doc) : []),
    ...unknown.filter((e) => !tolerated(e)).map((e) => unknownKeyProblem(e))
  ]
  if (Either.isLeft(r) || problems.length > 0) return Either.left(new ConfigError(problems, source))
  const warnings = unknown.filter(tolerated).map((e) => `${unknownKeyProblem(e)}, ignored`)
  return Either.right({ config: r.right, document: input, warnings })
}

const firstLine = (s: string) => s.split("\n")[0].replace(/:\s*$/, "")

/** Keys that occur twice in one mapping (the first version's YAML loader kept the last). */
const duplicateKeys = (node: unknown, path: ReadonlyArray<string>, out: Array<string>): void => {
  if (isMap(node)) {
    const seen = new Set<string>()
    for (const pair of node.items) {
      if (!isPair(pair)) continue
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
      const p = [...path, key]
      if (seen.has(key)) out.push(`${p.join(".")}: duplicate key, the last value is used`)
      seen.add(key)
      duplicateKeys(pair.value, p, out)
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => duplicateKeys(item, [...path, String(i)], out))
  }
}

/**
 * Parses YAML text and decodes it. YAML syntax errors name the line.
 * The text is read as YAML 1.1, like the first version's loader (so `yes`/`no`
 * and `on`/`off` are booleans), and a repeated key keeps its last value with a
 * warning instead of failing.
 */
export const parseConfigText = (
  text: string,
  source = "configuration",
  options: DecodeConfigOptions = {}
): Either.Either<LoadedConfig, ConfigError> => {
  let doc: ReturnType<typeof parseDocument>
  let value: unknown
  try {
    doc = parseDocument(text, { version: "1.1", uniqueKeys: false, prettyErrors: true })
    if (doc.errors.length > 0) {
      return Either.left(new ConfigError(doc.errors.map((e) => `YAML syntax error: ${firstLine(e.message)}`), source))
    }
    value = doc.toJS({ maxAliasCount: 1000 })
  } catch (e) {
    return Either.left(new ConfigError([`YAML syntax error: ${firstLine((e as Error).message)}`], source))
  }
  const yamlWarnings: Array<string> = doc.warnings.map((w) => `YAML: ${firstLine(w.message)}`)
  duplicateKeys(doc.contents, [], yamlWarnings)
  return Either.map(decodeConfig(value, source, options), (l) => ({ ...l, warnings: [...yamlWarnings, ...l.warnings] }))
}

/** Reads and decodes a configuration file; an unreadable file is a ConfigError naming the path. */
export const loadConfigFile = (path: string, options: DecodeConfigOptions = {}): Either.Either<LoadedConfig, ConfigError> => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES" || code === "EPERM"
          ? "permission denied"
          : code === "EISDIR"
            ? "is a directory, not a file"
            : firstLine((e as Error).message)
    return Either.left(new ConfigError([`${path}: ${why}`], path, "cannot read the configuration file"))
  }
  return parseConfigText(text, path, options)
}

// ---------------------------------------------------------------- secrets

const SECRET = /password|secret|token/i

/** A key path with a secret on it (`cloud.r1.config.password`, `...secret_access_key.0`): its value is never shown. */
export const isSecretPath = (path: ReadonlyArray<PropertyKey>): boolean => path.some((k) => typeof k === "string" && SECRET.test(k))

/** What a secret's value is, without any of it: for messages about a malformed secret. */
export const secretShape = (v: unknown): string => {
  const kind =
    v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "a mapping" : typeof v === "number" ? "a number" : typeof v === "boolean" ? "true or false" : typeof v === "string" ? "a string" : typeof v
  return `${kind} (not shown: a secret)`
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (v === null || typeof v !== "object") return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * A copy with every secret (SPEC §2: `password`, `secret_access_key`, any key
 * whose name contains password/secret/token) removed, at any depth; the input
 * is not changed. For API output and logs.
 */
export const redactSecrets = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(redactSecrets)
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {}
    for (const [k, val] of Object.entries(v)) {
      if (SECRET.test(k)) continue
      out[k] = redactSecrets(val)
    }
    return out
  }
  return v
}
