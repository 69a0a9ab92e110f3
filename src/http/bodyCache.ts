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
 */
import { randomBytes } from "node:crypto"
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
const MARK_RE = new RegExp(`"\\\\u0001dyncluster-time-${NONCE}-(\\d+)\\\\u0001"`)

/**
 * Encodes `view(open)` once, with every node passed to `open` left open, as
 * jsonResponse would encode it (JSON.stringify + "\n"). Null when the
 * encoding fails or the markers do not come out exactly once each (then the
 * caller encodes without the cache).
 */
export const makeTemplate = (view: (open: Opener) => unknown): BodyTemplate | null => {
  const starts: Array<number> = []
  const open: Opener = (n) => {
    starts.push(n.state_start_time)
    return { ...n, time_in_current_state: `${MARK}${starts.length - 1}\u0001` }
  }
  let text: string | undefined
  try {
    text = JSON.stringify(view(open))
  } catch {
    return null
  }
  if (text === undefined) return null
  // split with a capture group: text, index, text, index, ..., text
  const parts = (text + "\n").split(new RegExp(MARK_RE.source, "g"))
  const slots = (parts.length - 1) / 2
  if (slots !== starts.length) return null
  const pieces: Array<string> = [parts[0]]
  const ordered: Array<number> = []
  const seen = new Set<number>()
  for (let k = 0; k < slots; k++) {
    const i = Number(parts[2 * k + 1])
    if (!(i < starts.length) || seen.has(i)) return null
    seen.add(i)
    ordered.push(starts[i])
    pieces.push(parts[2 * k + 2])
  }
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

const encoder = new TextEncoder()

interface Entry {
  readonly version: number
  readonly template: BodyTemplate
  /** The last rendered body (most requests in a burst share the time). */
  last: { readonly time: number; readonly body: Uint8Array } | null
}

/** Bodies per key (path and query), each valid for one engine version. */
export const makeBodyCache = () => {
  const entries = new Map<string, Entry>()
  const stats = { hits: 0, misses: 0 }
  const bodyOf = (e: Entry, time: number): Uint8Array => {
    if (e.last !== null && (e.last.time === time || e.template.starts.length === 0)) return e.last.body
    const body = encoder.encode(renderTemplate(e.template, time))
    e.last = { time, body }
    return body
  }
  return {
    /** The body of `key` at `time` if it was stored for `version`. */
    get: (key: string, version: number | null, time: number): Uint8Array | undefined => {
      if (version === null) return undefined
      const e = entries.get(key)
      if (e === undefined || e.version !== version) return undefined
      stats.hits++
      return bodyOf(e, time)
    },
    /** Stores the template for `version` (null: not cacheable, nothing stored) and returns its body at `time`. */
    put: (key: string, version: number | null, template: BodyTemplate, time: number): Uint8Array => {
      stats.misses++
      const e: Entry = { version: version ?? -1, template, last: null }
      if (version !== null) entries.set(key, e)
      else entries.delete(key)
      return bodyOf(e, time)
    },
    /** Requests answered from a stored template, and templates built. */
    stats: (): { readonly hits: number; readonly misses: number } => ({ ...stats })
  }
}
export type BodyCache = ReturnType<typeof makeBodyCache>
