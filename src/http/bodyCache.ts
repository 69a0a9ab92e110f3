/**
 * Encoded JSON bodies of the big listings (GET /workernode, /resource, /job),
 * reused while the engine state does not change (EngineApi.stamp), so that a
 * request no longer rebuilds the snapshot and re-encodes megabytes of JSON
 * (bench/api: 5,000 nodes are 2.9 MB, 100,000 queued jobs 26 MB).
 *
 * The only part of these bodies that moves with the clock is each node's
 * `time_in_current_state`. A cached body is therefore a template: the JSON
 * text cut at every node's `time_in_current_state` value, with that node's
 * `state_start_time`; a request fills in `timeInState(now, start)` encoded
 * exactly as JSON.stringify encodes a number. The result is byte for byte
 * what encoding a fresh snapshot at the same time gives (src/http/bodyCache.test.ts).
 *
 * A rendered body (and its gzip) is then served for one time quantum
 * (LISTING_QUANTUM_SECONDS) as long as the engine version does not change:
 * 50 clients asking continuously no longer cost a rendering and a gzip per
 * request instant.
 */
import { randomBytes } from "node:crypto"
import { Deferred, Effect } from "effect"
import { promisify } from "node:util"
import { gzip } from "node:zlib"
import { timeInState } from "../engine/api.ts"
import type { WorkerNode } from "../model/types.ts"

/** Marks a node's open time in the value to encode; `open(node)` replaces its time_in_current_state with it. */
export type Opener = (node: WorkerNode) => unknown

export const identityOpener: Opener = (n) => n

export interface BodyTemplate {
  /** JSON text pieces: pieces[0] time(0) pieces[1] time(1) ... pieces[n]. */
  readonly pieces: ReadonlyArray<string>
  /** state_start_time of each open slot, in text order. */
  readonly starts: ReadonlyArray<number>
}

// A marker no engine data can collide with undetected: a per-process nonce, an
// index per slot, and a check that every slot shows up exactly once.
const NONCE = randomBytes(9).toString("hex")
const MARK = `\u0001dyncluster-time-${NONCE}-`
const MARK_SPLIT = new RegExp(`"\\\\u0001dyncluster-time-${NONCE}-(\\d+)\\\\u0001"`, "g")

/**
 * Encodes `view(open)` once, with every node passed to `open` left open, as
 * jsonResponse would encode it (JSON.stringify + "\n"). Null when the
 * encoding fails or the markers do not come out exactly once each (then the
 * caller encodes without the cache).
 */
export const makeTemplate = (view: (open: Opener) => unknown): BodyTemplate | null => {
  const steps = templateSteps(view, Infinity)
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
  }
}

/**
 * makeTemplate with `pause` between chunks of `chunk` elements when the view
 * is an array (GET /job's 100,000 jobs are 26 MB of JSON: encoded in one
 * piece, they held the event loop for hundreds of ms). The value is computed
 * once, before the first pause: what is encoded is the view at that instant
 * (snapshots are copies, jobs are never mutated). The same text as
 * makeTemplate: an array's JSON is its elements' JSON joined by commas.
 */
export const makeTemplateEffect = (view: (open: Opener) => unknown, pause: Effect.Effect<void>, chunk = TEMPLATE_CHUNK): Effect.Effect<BodyTemplate | null> =>
  Effect.suspend(() => {
    const steps = templateSteps(view, chunk)
    const go = (): Effect.Effect<BodyTemplate | null> => {
      const r = steps.next()
      return r.done === true ? Effect.succeed(r.value) : Effect.zipRight(pause, Effect.suspend(go))
    }
    return go()
  })

/** Elements of a listing encoded between two pauses (makeTemplateEffect): 2,000 jobs are ~0.5 MB of JSON, 2,000 nodes ~1.2 MB. */
export const TEMPLATE_CHUNK = 2000

/** The template of `view(open)`, encoded `chunk` array elements at a time, yielding between chunks. */
function* templateSteps(view: (open: Opener) => unknown, chunk: number): Generator<void, BodyTemplate | null> {
  const starts: Array<number> = []
  const open: Opener = (n) => {
    starts.push(n.state_start_time)
    return { ...n, time_in_current_state: `${MARK}${starts.length - 1}\u0001` }
  }
  const pieces: Array<string> = [""]
  const ordered: Array<number> = []
  const seen = new Set<number>()
  /** Appends JSON text (whole values only: a marker is never cut), cut at its markers. */
  const add = (text: string): boolean => {
    // split with a capture group: text, index, text, index, ..., text
    const parts = text.split(MARK_SPLIT)
    pieces[pieces.length - 1] += parts[0]
    for (let k = 1; k < parts.length; k += 2) {
      const i = Number(parts[k])
      if (!(i < starts.length) || seen.has(i)) return false
      seen.add(i)
      ordered.push(starts[i])
      pieces.push(parts[k + 1])
    }
    return true
  }
  try {
    const value = view(open)
    if (Array.isArray(value) && value.length > chunk) {
      add("[")
      for (let i = 0; i < value.length; i += chunk) {
        if (i > 0) {
          add(",")
          yield
        }
        // an array's JSON without its brackets: its elements', comma-separated
        if (!add(JSON.stringify(value.slice(i, i + chunk)).slice(1, -1))) return null
      }
      add("]\n")
    } else {
      const text = JSON.stringify(value)
      if (text === undefined || !add(text + "\n")) return null
    }
  } catch {
    return null
  }
  if (ordered.length !== starts.length) return null
  return { pieces, starts: ordered }
}

/** JSON.stringify of a number, without the generic machinery. */
const num = (x: number): string => (Number.isFinite(x) ? String(x) : "null")

/** The template's text at `now` (seconds). */
export const renderTemplate = (t: BodyTemplate, now: number): string => {
  let s = t.pieces[0]
  for (let i = 0; i < t.starts.length; i++) s += num(timeInState(now, t.starts[i])) + t.pieces[i + 1]
  return s
}

/** A template pre-encoded as UTF-8: the pieces back to back in one buffer, and where each ends. */
export interface BytesTemplate {
  readonly text: Buffer
  /** Byte offset in `text` where piece i ends (pieces.length entries). */
  readonly ends: Uint32Array
  readonly starts: ReadonlyArray<number>
}

export const toBytesTemplate = (t: BodyTemplate): BytesTemplate => {
  const ends = new Uint32Array(t.pieces.length)
  let at = 0
  for (let i = 0; i < t.pieces.length; i++) {
    at += Buffer.byteLength(t.pieces[i], "utf8")
    ends[i] = at
  }
  return { text: Buffer.from(t.pieces.join(""), "utf8"), ends, starts: t.starts }
}

/**
 * renderTemplate(t, now) as UTF-8 bytes, without building the string: the
 * pieces are copied from the pre-encoded buffer and the numbers (ASCII) written
 * between them (~4× faster than encoding the rendered string at 5,000 nodes).
 */
export const renderTemplateBytes = (t: BytesTemplate, now: number, alloc: (bytes: number) => Buffer = Buffer.allocUnsafe): Buffer => {
  const n = t.starts.length
  if (n === 0) return t.text
  const nums = new Array<string>(n)
  let total = t.text.length
  for (let i = 0; i < n; i++) {
    nums[i] = num(timeInState(now, t.starts[i]))
    total += nums[i].length
  }
  const space = alloc(total)
  if (space.length < total) throw new Error(`body template: ${space.length} bytes allocated for ${total}`)
  const out = space.length === total ? space : space.subarray(0, total)
  let src = 0
  let dst = 0
  for (let i = 0; i < n; i++) {
    const end = t.ends[i]
    dst += t.text.copy(out, dst, src, end)
    src = end
    dst += out.write(nums[i], dst, "latin1")
  }
  dst += t.text.copy(out, dst, src, t.ends[n])
  // Every byte written (allocUnsafe leaves old memory otherwise): a mismatch is a bug, never a body.
  if (dst !== total) throw new Error(`body template rendered ${dst} of ${total} bytes`)
  return out
}

const gzipAsync = promisify(gzip)

/** Fast compression (level 1): ~4× faster than the default level for ~25% more bytes on these listings. */
export const GZIP_LEVEL = 1

/** Listings shorter than this are sent as they are even to clients that accept gzip (nothing to gain). */
export const GZIP_MIN_BYTES = 1024

/** Output chunks of the size of a whole compressed listing: one callback into JavaScript per gzip, not one per 16 KiB. */
const GZIP_CHUNK = 256 * 1024

/**
 * One body: the bytes of a listing at one instant, and (on demand, once)
 * their gzip. A body rendered for gzip alone lives in a buffer that is
 * reused once its gzip is done (`shareable` false): only the gzip may be
 * sent then, and it was started when the body was rendered.
 */
export class Rendered {
  private gz: Promise<Buffer> | null = null
  private gzDone: Buffer | null = null
  constructor(
    readonly time: number,
    readonly body: Buffer,
    private readonly onGzip: () => void = () => {},
    readonly shareable: boolean = true
  ) {}
  /** The body gzipped (in libuv's thread pool, off the event loop), compressed once and shared by every request that wants it. */
  gzip(): Promise<Buffer> {
    if (this.gz === null) {
      this.onGzip()
      this.gz = gzipAsync(this.body, { level: GZIP_LEVEL, chunkSize: GZIP_CHUNK })
      this.gz.then((b) => void (this.gzDone = b), () => {})
    }
    return this.gz
  }
  /** The gzip once it is done (null before, or when it failed): what a request can be answered with at once. */
  get gzipped(): Buffer | null {
    return this.gzDone
  }
}

/**
 * How long (seconds of the engine's Clock, the time EngineApi.stamp gives) a
 * rendered listing keeps answering: a body rendered at instant t0 serves the
 * requests whose stamp reads a time in [t0, t0 + LISTING_QUANTUM_SECONDS) with
 * the same engine version. Staleness bound: `time_in_current_state` in an
 * answer is the exact (unrounded) value at t0, at most 0.25 s before the
 * request arrived, i.e. up to 0.25 s smaller than at arrival; every other
 * field is current, since a new engine version (a step, an operator action)
 * makes the very next request render anew. 0.25 s of the quanta measured
 * (0.1, 0.25, 1 s; docs/performance.md, api, third round): GET /workernode
 * with gzip at 5,000 nodes and 50 connections went from 2.2 to ~0.8 ms of
 * daemon CPU per answer (0.1 s: ~1.0; 1 s: no better than 0.25 s within the
 * noise, for four times the staleness).
 */
export const LISTING_QUANTUM_SECONDS = 0.25

/**
 * What a listing's template was encoded from, to tell whether a later
 * engine version encodes to the same text (BodyCache.adopt):
 * - `objects`: elements that determine the text and are never mutated (GET
 *   /job: the engine's readonly job objects); the same objects in the same
 *   order (===) give the same text.
 * - `content`: the very value encoded, its open slots marked (`slotOpener`):
 *   for data the engine edits in place (nodes, resources). The cache keeps a
 *   copy (`copyData`), and a later value that is the same data (`sameJsonText`:
 *   the same keys in the same order, the same primitives, plain objects and
 *   arrays only) encodes to the same text.
 */
export type ListingInputs = { readonly objects: ReadonlyArray<unknown> } | { readonly content: unknown }

/** Marks an open slot in a `content` value: the node's state_start_time stands where its time_in_current_state will be spliced in. */
const SLOT = `${MARK}slot`

/** The opener of `content` values: the node with its time_in_current_state replaced by its slot (a new object; the node is untouched). */
export const slotOpener: Opener = (n) => ({ ...n, time_in_current_state: [SLOT, n.state_start_time] })

const NOT_DATA = new Error("not plain JSON data")

const isPlain = (o: object): boolean => {
  const p: unknown = Object.getPrototypeOf(o)
  return (p === Object.prototype || p === null) && !("toJSON" in o)
}

/** A plain object as copyData keeps it: its keys in order (JSON.stringify's order) and their values' copies. */
class KeptObject {
  constructor(
    readonly keys: ReadonlyArray<string>,
    readonly values: ReadonlyArray<unknown>
  ) {}
}

/**
 * A deep copy of plain JSON data (arrays, plain objects without toJSON,
 * primitives but functions, symbols and bigints), for sameJsonText; null when
 * `v` is anything else (a Date, a Map, a class instance: their text is not
 * theirs to compare, so such a listing is never adopted).
 */
export const copyData = (v: unknown): { readonly value: unknown } | null => {
  const copy = (x: unknown): unknown => {
    if (typeof x !== "object" || x === null) {
      if (typeof x === "function" || typeof x === "symbol" || typeof x === "bigint") throw NOT_DATA
      return x
    }
    if (Array.isArray(x)) {
      const out = new Array<unknown>(x.length)
      for (let i = 0; i < x.length; i++) out[i] = copy(x[i])
      return out
    }
    if (!isPlain(x)) throw NOT_DATA
    const keys = Object.keys(x)
    const values = new Array<unknown>(keys.length)
    for (let i = 0; i < keys.length; i++) values[i] = copy((x as Record<string, unknown>)[keys[i]])
    return new KeptObject(keys, values)
  }
  try {
    return { value: copy(v) }
  } catch (e) {
    if (e === NOT_DATA) return null
    throw e
  }
}

/**
 * `fresh` is the same data as `kept` (a copyData copy): its JSON text is the
 * same. Keys are compared in order (JSON.stringify writes them in that
 * order; for-in lists an object's own keys in that order, then any
 * inherited enumerable ones, which then differ: a new encoding, never a
 * wrong one); NaN never equals (the same).
 */
export const sameJsonText = (fresh: unknown, kept: unknown): boolean => {
  if (fresh === kept) return typeof fresh !== "object" || fresh === null
  if (typeof fresh !== "object" || fresh === null || typeof kept !== "object" || kept === null) return false
  if (Array.isArray(fresh)) {
    if (!Array.isArray(kept) || fresh.length !== kept.length) return false
    for (let i = 0; i < fresh.length; i++) if (!sameJsonText(fresh[i], kept[i])) return false
    return true
  }
  if (!(kept instanceof KeptObject) || !isPlain(fresh)) return false
  const { keys, values } = kept
  let i = 0
  for (const k in fresh) {
    if (i >= keys.length || k !== keys[i] || !sameJsonText((fresh as Record<string, unknown>)[k], values[i])) return false
    i++
  }
  return i === keys.length
}

/** What an entry keeps of its ListingInputs: the objects themselves, or a copy of the content. */
type KeptInputs = { readonly objects: ReadonlyArray<unknown> } | { readonly copy: unknown }

const keep = (inputs: ListingInputs | null): KeptInputs | null => {
  if (inputs === null) return null
  if ("objects" in inputs) return inputs
  const c = copyData(inputs.content)
  return c === null ? null : { copy: c.value }
}

const sameInputs = (kept: KeptInputs, inputs: ListingInputs): boolean =>
  "objects" in kept ? "objects" in inputs && sameElements(kept.objects, inputs.objects) : "content" in inputs && sameJsonText(inputs.content, kept.copy)

interface Entry {
  /** The engine version this template is of; a later version whose inputs are the same adopts it (BodyCache.adopt). */
  version: number
  readonly template: BytesTemplate
  /** What the template was encoded from, when its caller says so (put): a later version with the same inputs encodes to the same text. */
  readonly inputs: KeptInputs | null
  /** The last body rendered for identity clients (any client may share it, and its gzip). */
  plain: Rendered | null
  /** The last body rendered for gzip clients (its bytes may be lent: see Rendered.shareable). */
  gz: Rendered | null
}

export interface BodyCacheOptions {
  /** Seconds a rendered body keeps answering (default LISTING_QUANTUM_SECONDS; 0: only requests at its very instant). */
  readonly quantum?: number
}

/**
 * Bodies per key (path and query), each valid for one engine version.
 * `gzip`: the caller wants the body only to compress it. Such bodies are
 * rendered into one reusable buffer per key (while no gzip of it is running)
 * instead of a new 3 MB buffer each time: at ~100 renderings a second those
 * allocations made V8 run long full garbage collections.
 */
export const makeBodyCache = (options: BodyCacheOptions = {}) => {
  const quantum = options.quantum ?? LISTING_QUANTUM_SECONDS
  if (!(quantum >= 0 && Number.isFinite(quantum))) throw new Error(`body cache quantum: expected a finite number of seconds ≥ 0, got ${quantum}`)
  const entries = new Map<string, Entry>()
  const scratch = new Map<string, { buf: Buffer; busy: boolean }>()
  const stats = { hits: 0, misses: 0, renders: 0, gzips: 0, adopted: 0, fast: 0 }
  const onGzip = () => void stats.gzips++
  /** Rendered at most `quantum` before `time` (and not after it: a clock that went back gets a new rendering). */
  const fresh = (e: Entry, r: Rendered | null, time: number): r is Rendered =>
    r !== null && (e.template.starts.length === 0 || r.time === time || (r.time <= time && time < r.time + quantum))
  const usable = (e: Entry, time: number, gzip: boolean): Rendered | undefined => {
    if (gzip) return fresh(e, e.gz, time) ? e.gz : fresh(e, e.plain, time) ? e.plain : undefined
    if (fresh(e, e.plain, time)) return e.plain
    return fresh(e, e.gz, time) && e.gz.shareable ? e.gz : undefined
  }
  const bodyOf = (key: string, e: Entry, time: number, gzip: boolean): Rendered => {
    const ready = usable(e, time, gzip)
    if (ready !== undefined) return ready
    stats.renders++
    if (!gzip || e.template.starts.length === 0) return (e.plain = new Rendered(time, renderTemplateBytes(e.template, time), onGzip))
    let s = scratch.get(key)
    let used = false
    const body = renderTemplateBytes(e.template, time, (bytes) => {
      if (s?.busy === true || bytes < GZIP_MIN_BYTES) return Buffer.allocUnsafe(bytes)
      if (s === undefined || s.buf.length < bytes) scratch.set(key, (s = { buf: Buffer.allocUnsafe(bytes + (bytes >> 4)), busy: false }))
      used = true
      return s.buf
    })
    const r = new Rendered(time, body, onGzip, !used)
    if (used) {
      const held = s!
      held.busy = true
      const release = () => void (held.busy = false)
      r.gzip().then(release, release)
    }
    return (e.gz = r)
  }
  return {
    /** The body of `key` for a request at `time` if a template was stored for `version`: rendered less than the quantum before, or rendered now. */
    get: (key: string, version: number | null, time: number, gzip = false): Rendered | undefined => {
      if (version === null) return undefined
      const e = entries.get(key)
      if (e === undefined || e.version !== version) return undefined
      stats.hits++
      return bodyOf(key, e, time, gzip)
    },
    /** The body of `key` for a request at `time` if one was already rendered for `version` less than the quantum before (no work done). */
    peek: (key: string, version: number | null, time: number, gzip = false): Rendered | undefined => {
      if (version === null) return undefined
      const e = entries.get(key)
      if (e === undefined || e.version !== version) return undefined
      const ready = usable(e, time, gzip)
      if (ready !== undefined) stats.hits++
      return ready
    },
    /**
     * The body of `key` for `version` at `time` from the template stored for
     * an earlier version, when that template was encoded from the same
     * `inputs` (ListingInputs: the same objects, or the same content): the
     * listing's text is then the same (the engine's version moves at every
     * step; its 100,000 queued jobs mostly stay the same objects, its 5,000
     * nodes mostly the same content), and so are its rendered bodies and
     * their gzip. The template then belongs to `version`. Undefined when the
     * inputs differ (or nothing was stored with inputs): the caller encodes a
     * new template.
     */
    adopt: (key: string, version: number | null, time: number, gzip: boolean, inputs: ListingInputs): Rendered | undefined => {
      if (version === null) return undefined
      const e = entries.get(key)
      if (e === undefined || e.inputs === null || !sameInputs(e.inputs, inputs)) return undefined
      e.version = version
      stats.adopted++
      return bodyOf(key, e, time, gzip)
    },
    /** Counts an answer sent by the server's fast path (a body from peek, without per-request Effect work). */
    servedFast: (): void => void stats.fast++,
    /**
     * Stores the template for `version` (null: not cacheable, nothing stored)
     * and returns its body at `time`; `inputs`: what the template was
     * encoded from (ListingInputs), kept for adopt.
     */
    put: (key: string, version: number | null, template: BodyTemplate, time: number, gzip = false, inputs: ListingInputs | null = null): Rendered => {
      stats.misses++
      const e: Entry = { version: version ?? -1, template: toBytesTemplate(template), inputs: version === null ? null : keep(inputs), plain: null, gz: null }
      if (version !== null) entries.set(key, e)
      else entries.delete(key)
      return bodyOf(key, e, time, gzip && version !== null)
    },
    /**
     * Requests answered from a stored template, templates built, bodies
     * rendered, gzip compressions started, templates adopted by a later
     * version (adopt), and answers sent by the fast path (servedFast).
     */
    stats: (): { readonly hits: number; readonly misses: number; readonly renders: number; readonly gzips: number; readonly adopted: number; readonly fast: number } => ({ ...stats }),
    /** Seconds a rendered body keeps answering. */
    quantum,
    /** A body that is not stored (an uncacheable listing), with the same on-demand gzip. */
    wrap: (time: number, body: Buffer): Rendered => new Rendered(time, body, onGzip)
  }
}
export type BodyCache = ReturnType<typeof makeBodyCache>

/** The same elements (===) in the same order. */
const sameElements = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): boolean => {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Shares one piece of work per slot among the callers that ask before it
 * starts: `lead` runs `gate` (e.g. a turn of the event loop), then `work`,
 * and every `join` made until `work` starts gets the same result (or the
 * same failure). A call after `work` started finds nothing to join: its
 * result would be older than the call.
 */
export const makeCoalescer = <A>() => {
  const pending = new Map<string, Deferred.Deferred<A>>()
  return {
    /** The work for `slot` that has not started yet, if any. */
    join: (slot: string): Effect.Effect<A> | undefined => {
      const d = pending.get(slot)
      return d === undefined ? undefined : Deferred.await(d)
    },
    /** Starts the work for `slot` (uninterruptible: the callers that joined wait for it even if the leader's caller goes away). */
    lead: (slot: string, gate: Effect.Effect<void>, work: Effect.Effect<A>): Effect.Effect<A> =>
      Effect.flatMap(Deferred.make<A>(), (done) => {
        pending.set(slot, done)
        return Effect.uninterruptible(
          Effect.gen(function* () {
            yield* Effect.exit(gate)
            pending.delete(slot)
            const exit = yield* Effect.exit(work)
            yield* Deferred.done(done, exit)
            return yield* exit
          })
        )
      })
  }
}
