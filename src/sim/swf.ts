/**
 * Reader for the Standard Workload Format (SWF) of the Parallel Workloads
 * Archive: one job per line, 18 whitespace-separated numbers, `;` header
 * comments, -1 for "unknown". Plain or gzip (detected by the gzip magic bytes
 * or a `.gz` name).
 *
 * Returns an `Either` (not an `Effect`): loading a trace is a synchronous,
 * self-contained step of building a scenario, and callers in and out of Effect
 * can use an Either directly. Nothing here throws to its caller.
 *
 * Mapping (see `SwfOptions`):
 * - window: `start` and `duration` are seconds of *trace* time, counted from
 *   the earliest submit in the file; a job is in the window when
 *   first + start <= submit < first + start + duration.
 * - time scale: submit offsets (from the window start), runtimes and requested
 *   times are *divided* by `timeScale`, so 10 replays the trace ten times faster
 *   and 0.5 stretches it to twice as long. Results are not rounded.
 * - processors: field 5 (allocated), or field 8 (requested) when that is <= 0;
 *   cores = processors × `coresPerProcessor`, rounded up;
 *   cpn = min(cores, `coresPerNode`), or 0 (spread anywhere) if coresPerNode is 0.
 * - runtime: field 4; walltime: field 9 (<= 0 → null); priority 0.
 * - queue: field 15 (or 16, partition, with `queueField: "partition"`); -1 →
 *   `defaultQueue`; otherwise `queueNames[N]`, or the `; Queue: N name` header
 *   name when `queueNames` is "header", else `q<N>`.
 * - account / property: templates with `{user}` (field 12), `{group}` (13),
 *   `{app}` (14), `{queue}` (15), `{partition}` (16); null when the template is
 *   null or a field it names is -1.
 * Skipped (and counted) inside the window: runtime < 0, no processor count,
 * more cores than `maxCores`.
 */
import { Data, Either, Schema } from "effect"
import { readFileSync } from "node:fs"
import { gunzipSync } from "node:zlib"
import type { Workload, WorkloadJob } from "./workload.ts"

export class SwfError extends Data.TaggedError("SwfError")<{
  readonly file: string
  /** 1-based line of the file (comment lines count), null for file-level errors. */
  readonly line: number | null
  readonly message: string
}> {}

export interface SwfOptions {
  /** Window start, seconds after the first submit of the trace. Default 0. */
  readonly start?: number
  /** Window length in trace seconds. Default: to the end. */
  readonly duration?: number
  /** > 1 = faster: submit offsets, runtimes and walltimes are divided by it. Default 1. */
  readonly timeScale?: number
  /** Cores per SWF processor. Default 1. */
  readonly coresPerProcessor?: number
  /** Cores per node of the target cluster; 0 = jobs may spread anywhere. Default 1. */
  readonly coresPerNode?: number
  /** Jobs asking for more cores are skipped (and counted). */
  readonly maxCores?: number
  /** Which SWF field names the queue. Default "queue" (field 15). */
  readonly queueField?: "queue" | "partition"
  /** Number → queue name, or "header" for the file's `; Queue:` / `; Partition:` lines. */
  readonly queueNames?: Readonly<Record<string, string>> | "header"
  /** Queue of jobs whose queue field is -1. Default "default". */
  readonly defaultQueue?: string | null
  /** Account template, e.g. "user{user}" or "group{group}". Default null. */
  readonly account?: string | null
  /** Property template. Default null. */
  readonly property?: string | null
}

export interface SwfWorkload extends Workload {
  /** Data lines in the file. */
  readonly lines: number
  /** Data lines outside the time window (not counted as skipped). */
  readonly outsideWindow: number
  readonly skippedBy: { readonly runtime: number; readonly processors: number; readonly tooLarge: number }
  /** Earliest submit in the file, in trace seconds (the window's origin). */
  readonly firstSubmit: number
  /** `; UnixStartTime:` header, if present. */
  readonly unixStartTime: number | null
  /** Names from `; Queue: N name` and `; Partition: N name` header lines. */
  readonly headerQueues: Readonly<Record<string, string>>
  readonly headerPartitions: Readonly<Record<string, string>>
}

export type SwfSource =
  | { readonly path: string }
  | { readonly text: string | Uint8Array; readonly name?: string }

// ---------------------------------------------------------------- scenario spec

const nonNegative = Schema.Finite.pipe(Schema.nonNegative()).annotations({
  message: () => "expected a non-negative number (seconds)"
})
const positive = Schema.Finite.pipe(Schema.positive()).annotations({ message: () => "expected a positive number" })
const nonNegInt = Schema.Int.pipe(Schema.nonNegative()).annotations({
  message: () => "expected a non-negative integer"
})
const posInt = Schema.Int.pipe(Schema.positive()).annotations({ message: () => "expected a positive integer" })

/** `type: swf` in a scenario file; see the module comment for each key's meaning. */
export const SwfWorkloadSpec = Schema.Struct({
  type: Schema.Literal("swf"),
  /** Path of the trace, relative to the scenario file. */
  file: Schema.String,
  start: Schema.optional(nonNegative),
  duration: Schema.optional(positive),
  time_scale: Schema.optional(positive),
  cores_per_processor: Schema.optional(positive),
  cores_per_node: Schema.optional(nonNegInt),
  max_cores: Schema.optional(posInt),
  queue_field: Schema.optional(Schema.Literal("queue", "partition")),
  queue_names: Schema.optional(
    Schema.Union(Schema.Literal("header"), Schema.Record({ key: Schema.String, value: Schema.String }))
  ),
  default_queue: Schema.optional(Schema.NullOr(Schema.String)),
  account: Schema.optional(Schema.NullOr(Schema.String)),
  property: Schema.optional(Schema.NullOr(Schema.String))
})
export type SwfWorkloadSpec = typeof SwfWorkloadSpec.Type

export const swfOptionsOfSpec = (s: SwfWorkloadSpec): SwfOptions => ({
  start: s.start,
  duration: s.duration,
  timeScale: s.time_scale,
  coresPerProcessor: s.cores_per_processor,
  coresPerNode: s.cores_per_node,
  maxCores: s.max_cores,
  queueField: s.queue_field,
  queueNames: s.queue_names,
  defaultQueue: s.default_queue,
  account: s.account,
  property: s.property
})

// ---------------------------------------------------------------- parsing

const FIELDS = 18
// 0-based field indexes
const F_ID = 0, F_SUBMIT = 1, F_RUN = 3, F_ALLOC = 4, F_REQ_PROCS = 7, F_REQ_TIME = 8
const F_USER = 11, F_GROUP = 12, F_APP = 13, F_QUEUE = 14, F_PARTITION = 15

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]
const NUMBER_TOKEN = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

const SPACE = new Uint8Array(256)
for (const c of [32, 9, 13, 11, 12]) SPACE[c] = 1

interface Parsed {
  readonly count: number
  /** count × 18 values. */
  readonly values: Float64Array
  readonly unixStartTime: number | null
  readonly queues: Record<string, string>
  readonly partitions: Record<string, string>
}

const HEADER_NAME = /^;\s*(Queue|Partition)\s*:\s*(-?\d+)\s+(\S+)/
const HEADER_START = /^;\s*UnixStartTime\s*:\s*(-?\d+)/

// One pass over the bytes, not over a decoded string, and numbers parsed while
// scanning: SWF is mostly padding spaces, and this loop is what makes a
// 120k-line trace load in a fraction of a second.
const parseBytes = (buf: Uint8Array, file: string): Either.Either<Parsed, SwfError> => {
  const n = buf.length
  let values = new Float64Array(FIELDS * 4096)
  let count = 0
  let unixStartTime: number | null = null
  const queues: Record<string, string> = {}
  const partitions: Record<string, string> = {}
  const text = (from: number, to: number) => Buffer.from(buf.buffer, buf.byteOffset + from, to - from).toString("utf8")
  let lineNo = 0
  let i = 0
  let c = 0
  while (i < n) {
    lineNo++
    while (i < n && (c = buf[i]) !== 10 && SPACE[c] === 1) i++
    if (i >= n) break
    if (c === 10) {
      i++
      continue
    }
    if (c === 59 /* ; */) {
      const from = i
      while (i < n && buf[i] !== 10) i++
      const line = text(from, i)
      const m = HEADER_NAME.exec(line)
      if (m !== null) (m[1] === "Queue" ? queues : partitions)[String(Number(m[2]))] = m[3]
      const st = HEADER_START.exec(line)
      if (st !== null) unixStartTime = Number(st[1])
      i++
      continue
    }
    if ((count + 1) * FIELDS > values.length) {
      const grown = new Float64Array(values.length * 2)
      grown.set(values)
      values = grown
    }
    const base = count * FIELDS
    let field = 0
    for (;;) {
      // a token starts at i (c = buf[i], neither space nor newline)
      const from = i
      let neg = false
      if (c === 45 /* - */ || c === 43 /* + */) {
        neg = c === 45
        i++
      }
      let v = 0, digits = 0
      while (i < n && (c = buf[i] - 48) >= 0 && c <= 9) {
        v = v * 10 + c
        digits++
        i++
      }
      if (i < n && buf[i] === 46 /* . */) {
        i++
        let frac = 0, fracDigits = 0
        while (i < n && (c = buf[i] - 48) >= 0 && c <= 9) {
          frac = frac * 10 + c
          fracDigits++
          i++
        }
        digits += fracDigits
        if (fracDigits > 0 && fracDigits < POW10.length) v += frac / POW10[fracDigits]
      }
      if (neg) v = -v
      if (!(i >= n || (c = buf[i]) === 10 || SPACE[c] === 1) || digits === 0 || digits > 15) {
        // not a plain decimal: the whole token, strictly
        while (i < n && (c = buf[i]) !== 10 && SPACE[c] === 0) i++
        const token = text(from, i)
        v = NUMBER_TOKEN.test(token) ? Number(token) : Number.NaN
        if (Number.isNaN(v)) {
          return Either.left(swfLineError(file, lineNo, `field ${field + 1} is not a number: ${JSON.stringify(token)}`))
        }
      }
      if (field === FIELDS) {
        return Either.left(swfLineError(file, lineNo, `expected ${FIELDS} fields, found more`))
      }
      values[base + field] = v
      field++
      while (i < n && (c = buf[i]) !== 10 && SPACE[c] === 1) i++
      if (i >= n || c === 10) break
    }
    if (field !== FIELDS) {
      return Either.left(swfLineError(file, lineNo, `expected ${FIELDS} fields, found ${field}`))
    }
    count++
    i++
  }
  return Either.right({ count, values, unixStartTime, queues, partitions })
}

const swfLineError = (file: string, line: number, what: string) =>
  new SwfError({ file, line, message: `${file}:${line}: ${what}` })

// ---------------------------------------------------------------- mapping

type Template = ((f: Float64Array, base: number) => string | null) | null

const PLACEHOLDERS: Record<string, number> = {
  user: F_USER,
  group: F_GROUP,
  app: F_APP,
  queue: F_QUEUE,
  partition: F_PARTITION
}

const compileTemplate = (t: string | null | undefined, file: string): Either.Either<Template, SwfError> => {
  if (t === null || t === undefined) return Either.right(null)
  const parts: Array<string | number> = []
  const re = /\{([a-z]+)\}/g
  let last = 0
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    const idx = PLACEHOLDERS[m[1]]
    if (idx === undefined) {
      return Either.left(
        new SwfError({
          file,
          line: null,
          message: `${file}: unknown placeholder {${m[1]}} in template ${JSON.stringify(t)} (use {user}, {group}, {app}, {queue}, {partition})`
        })
      )
    }
    parts.push(t.slice(last, m.index), idx)
    last = m.index + m[0].length
  }
  parts.push(t.slice(last))
  if (parts.length === 1) {
    const constant = t
    return Either.right(() => constant)
  }
  return Either.right((f, base) => {
    let out = ""
    for (const p of parts) {
      if (typeof p === "string") out += p
      else {
        const v = f[base + p]
        if (v < 0) return null
        out += String(v)
      }
    }
    return out
  })
}

const checkOptions = (o: SwfOptions, file: string): SwfError | null => {
  const bad = (message: string) => new SwfError({ file, line: null, message: `${file}: ${message}` })
  if (o.start !== undefined && !(o.start >= 0 && Number.isFinite(o.start))) return bad("start must be >= 0")
  if (o.duration !== undefined && !(o.duration > 0)) return bad("duration must be > 0")
  if (o.timeScale !== undefined && !(o.timeScale > 0 && Number.isFinite(o.timeScale)))
    return bad("timeScale must be > 0")
  if (o.coresPerProcessor !== undefined && !(o.coresPerProcessor > 0 && Number.isFinite(o.coresPerProcessor)))
    return bad("coresPerProcessor must be > 0")
  if (o.coresPerNode !== undefined && !(Number.isInteger(o.coresPerNode) && o.coresPerNode >= 0))
    return bad("coresPerNode must be an integer >= 0")
  if (o.maxCores !== undefined && !(o.maxCores >= 1)) return bad("maxCores must be >= 1")
  return null
}

/**
 * Natural order of ids: runs of digits compare as numbers ("s9" < "s10",
 * "2" < "10"), everything else by code units. (Lives here rather than in
 * workload.ts so that this module imports only types from there; workload.ts
 * re-exports it.)
 */
export const compareIds = (a: string, b: string): number => {
  let i = 0, j = 0
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i), cb = b.charCodeAt(j)
    const da = ca >= 48 && ca <= 57, db = cb >= 48 && cb <= 57
    if (da && db) {
      let ei = i, ej = j
      while (ei < a.length && a.charCodeAt(ei) === 48) ei++
      while (ej < b.length && b.charCodeAt(ej) === 48) ej++
      let ki = ei, kj = ej
      while (ki < a.length && a.charCodeAt(ki) >= 48 && a.charCodeAt(ki) <= 57) ki++
      while (kj < b.length && b.charCodeAt(kj) >= 48 && b.charCodeAt(kj) <= 57) kj++
      if (ki - ei !== kj - ej) return ki - ei - (kj - ej)
      const na = a.slice(ei, ki), nb = b.slice(ej, kj)
      if (na !== nb) return na < nb ? -1 : 1
      i = ki
      j = kj
    } else {
      if (ca !== cb) return ca - cb
      i++
      j++
    }
  }
  if (a.length - i !== b.length - j) return a.length - i - (b.length - j)
  return a < b ? -1 : a > b ? 1 : 0
}

/** The order of `Workload.jobs`: by submit time, then by id. */
export const compareJobs = (a: WorkloadJob, b: WorkloadJob): number => a.submit - b.submit || compareIds(a.id, b.id)

/** Parse SWF text (or its uncompressed bytes) already in memory; `file` names it in errors and in `source`. */
export const parseSwf = (
  text: string | Uint8Array,
  options: SwfOptions = {},
  file = "<text>"
): Either.Either<SwfWorkload, SwfError> => {
  const optionError = checkOptions(options, file)
  if (optionError !== null) return Either.left(optionError)
  const account = compileTemplate(options.account, file)
  if (Either.isLeft(account)) return Either.left(account.left)
  const property = compileTemplate(options.property, file)
  if (Either.isLeft(property)) return Either.left(property.left)
  const parsed = parseBytes(typeof text === "string" ? Buffer.from(text, "utf8") : text, file)
  if (Either.isLeft(parsed)) return Either.left(parsed.left)
  const { count, values: f } = parsed.right

  const timeScale = options.timeScale ?? 1
  const cpp = options.coresPerProcessor ?? 1
  const coresPerNode = options.coresPerNode ?? 1
  const maxCores = options.maxCores ?? Infinity
  const queueIdx = options.queueField === "partition" ? F_PARTITION : F_QUEUE
  const defaultQueue = options.defaultQueue === undefined ? "default" : options.defaultQueue
  const names: Readonly<Record<string, string>> =
    options.queueNames === "header"
      ? queueIdx === F_PARTITION ? parsed.right.partitions : parsed.right.queues
      : options.queueNames ?? {}
  const queueCache = new Map<number, string | null>()
  const queueOf = (q: number): string | null => {
    let name = queueCache.get(q)
    if (name === undefined) {
      name = q < 0 ? defaultQueue : (names[String(q)] ?? `q${q}`)
      queueCache.set(q, name)
    }
    return name
  }
  const accountOf = account.right
  const propertyOf = property.right

  let first = Infinity
  for (let k = 0; k < count; k++) {
    const s = f[k * FIELDS + F_SUBMIT]
    if (s < first) first = s
  }
  if (count === 0) first = 0
  const windowStart = first + (options.start ?? 0)
  const windowEnd = options.duration === undefined ? Infinity : windowStart + options.duration

  const jobs: Array<WorkloadJob> = []
  let outsideWindow = 0, skipRuntime = 0, skipProcs = 0, skipLarge = 0
  let sorted = true
  let prevSubmit = -Infinity, prevId = ""
  for (let k = 0; k < count; k++) {
    const b = k * FIELDS
    const submit = f[b + F_SUBMIT]
    if (submit < windowStart || submit >= windowEnd) {
      outsideWindow++
      continue
    }
    const runtime = f[b + F_RUN]
    if (runtime < 0) {
      skipRuntime++
      continue
    }
    const procs = f[b + F_ALLOC] > 0 ? f[b + F_ALLOC] : f[b + F_REQ_PROCS]
    if (!(procs > 0)) {
      skipProcs++
      continue
    }
    const cores = Math.max(1, Math.ceil(procs * cpp))
    if (cores > maxCores) {
      skipLarge++
      continue
    }
    const reqTime = f[b + F_REQ_TIME]
    const job: WorkloadJob = {
      id: String(f[b + F_ID]),
      submit: (submit - windowStart) / timeScale,
      cores,
      cpn: coresPerNode === 0 ? 0 : Math.min(cores, coresPerNode),
      runtime: runtime / timeScale,
      walltime: reqTime > 0 ? reqTime / timeScale : null,
      queue: queueOf(f[b + queueIdx]),
      account: accountOf === null ? null : accountOf(f, b),
      property: propertyOf === null ? null : propertyOf(f, b),
      priority: 0
    }
    if (sorted && (job.submit < prevSubmit || (job.submit === prevSubmit && compareIds(prevId, job.id) > 0))) {
      sorted = false
    }
    prevSubmit = job.submit
    prevId = job.id
    jobs.push(job)
  }
  if (!sorted) jobs.sort(compareJobs)

  return Either.right({
    jobs,
    skipped: skipRuntime + skipProcs + skipLarge,
    source: `swf:${file}`,
    lines: count,
    outsideWindow,
    skippedBy: { runtime: skipRuntime, processors: skipProcs, tooLarge: skipLarge },
    firstSubmit: first,
    unixStartTime: parsed.right.unixStartTime,
    headerQueues: parsed.right.queues,
    headerPartitions: parsed.right.partitions
  })
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b

const decompress = (bytes: Uint8Array, file: string, gzName: boolean): Either.Either<Uint8Array, SwfError> => {
  if (!isGzip(bytes) && !gzName) return Either.right(bytes)
  try {
    return Either.right(gunzipSync(bytes))
  } catch (e) {
    return Either.left(
      new SwfError({ file, line: null, message: `${file}: cannot decompress: ${(e as Error).message}` })
    )
  }
}

/** Read a trace from a file (plain or gzip) or from text/bytes in memory. */
export const readSwf = (source: SwfSource, options: SwfOptions = {}): Either.Either<SwfWorkload, SwfError> => {
  if ("path" in source) {
    let bytes: Uint8Array
    try {
      bytes = readFileSync(source.path)
    } catch (e) {
      return Either.left(
        new SwfError({ file: source.path, line: null, message: `${source.path}: cannot read: ${(e as Error).message}` })
      )
    }
    return Either.flatMap(decompress(bytes, source.path, source.path.endsWith(".gz")), (raw) =>
      parseSwf(raw, options, source.path)
    )
  }
  const name = source.name ?? "<text>"
  if (typeof source.text === "string") return parseSwf(source.text, options, name)
  return Either.flatMap(decompress(source.text, name, name.endsWith(".gz")), (raw) => parseSwf(raw, options, name))
}
