/**
 * Parsing a batch command's job listing off the event loop (#19). At 100,000
 * jobs, `qstat -x` (Torque), `qstat -xml` (Grid Engine) and `squeue --json`
 * (Slurm) take seconds of CPU to read and decode; done inline that would hold
 * the daemon's event loop (REST API, dashboard, timers) for as long. Outputs
 * larger than INLINE_MAX_CHARS are therefore parsed in a worker thread: the
 * worker runs the very same parser and posts back plain data, or the parser's
 * error as a value ({source, message}), which becomes the same ParseError as
 * an inline parse would give. Smaller outputs (every test fixture, a small
 * cluster's queue) are parsed inline: cheaper than a round trip, and their
 * result never depends on a thread's timing.
 *
 * One worker is started on first use and kept (it keeps the process alive
 * only while a parse is in flight); if it dies, the parses in flight fail with a ParseError
 * naming why and the next parse starts a new one.
 */
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import { Effect, Either } from "effect"
import { ParseError } from "./parsing.ts"
import { parseQstat as parseSgeQstat } from "./sge/parse.ts"
import { parseSqueueJson } from "./slurm/parse.ts"
import { parseQstat as parseTorqueQstat } from "./torque/parse.ts"

/** The parsers that may run in the worker, by name (a name crosses the thread boundary, a function cannot). */
export const jobParsers = {
  "sge qstat -xml": parseSgeQstat,
  "torque qstat -x": parseTorqueQstat,
  "slurm squeue --json": parseSqueueJson
} as const

export type JobParser = keyof typeof jobParsers
export type Parsed<K extends JobParser> = ReturnType<(typeof jobParsers)[K]> extends Either.Either<infer A, ParseError> ? A : never

/**
 * Outputs up to this many characters are parsed inline. 256 Ki characters is
 * about 150 Torque jobs or 700 Grid Engine jobs: tens of milliseconds of
 * CPU, less than the worker's round trip is worth.
 */
export const INLINE_MAX_CHARS = 256 * 1024

/**
 * How the text and the result cross the thread boundary. A structured clone
 * copies on the sending thread: one `postMessage` of a 490 MB `squeue --json`
 * held the event loop for 2.5–3.5 s (CPU, load 10–16), so the text goes over
 * in slices of `chunkChars` characters, one per turn of the event loop, and
 * the jobs come back in batches of `replyJobs`, each asked for by the main
 * thread in its own turn. Each step costs the main thread about its size:
 * an 8 Mi-character slice took 24–44 ms of its CPU (a page-faulting copy, ~3.5
 * ms per MB here) and a batch of 5,000 jobs 20–30 ms, the longest blocks of a
 * 100,000-job parse (110–130 ms at load 2–5); 1 Mi characters and 1,000 jobs
 * keep each step near 5 ms for about the same total.
 */
export interface HandOff {
  readonly chunkChars: number
  readonly replyJobs: number
}

export const HANDOFF: HandOff = { chunkChars: 1024 * 1024, replyJobs: 1_000 }

/**
 * A message to the worker: the next slice of a parse's text, a request for
 * the parse's next batch of jobs, or its cancellation.
 */
export type WorkerRequest =
  | { readonly id: number; readonly parser: string; readonly chunk: unknown; readonly last: boolean; readonly replyJobs: number }
  | { readonly id: number; readonly more: true }
  | { readonly id: number; readonly cancel: true }

/** A message from the worker: a batch of the parser's result (the last one `done`), or its error as plain data. */
export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly part: unknown; readonly done: boolean }
  | { readonly id: number; readonly ok: false; readonly source: string; readonly message: string }

/** What the worker does with one whole request: run the named parser; never throws. */
export const runParser = (id: number, parser: string, text: unknown, replyJobs = HANDOFF.replyJobs): ReadonlyArray<WorkerReply> => {
  const parse = (jobParsers as Record<string, (t: string) => Either.Either<unknown, ParseError>>)[parser]
  if (parse === undefined) return [{ id, ok: false, source: parser, message: `no such parser in the parse worker` }]
  try {
    const r = parse(text as string)
    if (Either.isLeft(r)) return [{ id, ok: false, source: r.left.source, message: r.left.message }]
    const jobs = r.right
    if (!Array.isArray(jobs) || jobs.length <= replyJobs) return [{ id, ok: true, part: jobs, done: true }]
    const out: Array<WorkerReply> = []
    for (let at = 0; at < jobs.length; at += replyJobs) out.push({ id, ok: true, part: jobs.slice(at, at + replyJobs), done: at + replyJobs >= jobs.length })
    return out
  } catch (e) {
    return [{ id, ok: false, source: parser, message: `parser failed: ${e instanceof Error ? e.message : String(e)}` }]
  }
}

/**
 * The worker's side: slices of each parse's text until the last, then the
 * parse; its first reply goes at once, each further batch when the main
 * thread asks for it (`more`). Posted all at once, the batches would queue
 * up and Node hands every queued message to the main thread in one turn of
 * its event loop: the 100,000 jobs deserialised in one go held it for
 * 0.3–1.1 s.
 */
export const workerHandler = (post: (r: WorkerReply) => void) => {
  const texts = new Map<number, Array<unknown>>()
  const replies = new Map<number, Array<WorkerReply>>()
  return (m: WorkerRequest) => {
    if ("cancel" in m) {
      texts.delete(m.id)
      replies.delete(m.id)
      return
    }
    if ("more" in m) {
      const rest = replies.get(m.id)
      const next = rest?.shift()
      if (rest !== undefined && rest.length === 0) replies.delete(m.id)
      if (next !== undefined) post(next)
      return
    }
    const parts = texts.get(m.id) ?? []
    parts.push(m.chunk)
    if (!m.last) {
      texts.set(m.id, parts)
      return
    }
    texts.delete(m.id)
    const text = parts.length === 1 ? parts[0] : parts.join("")
    const [first, ...rest] = runParser(m.id, m.parser, text, m.replyJobs)
    if (rest.length > 0) replies.set(m.id, rest)
    post(first)
  }
}

/** The worker keeps the process alive only while a parse is in flight. */
const idle = (w: Worker) => {
  if (pending.size === 0) w.unref()
}

interface Pending {
  readonly parser: JobParser
  /** The batches of jobs received so far. */
  readonly parts: Array<unknown>
  readonly done: (e: Either.Either<unknown, ParseError>) => void
}

let worker: Worker | null = null
let nextId = 0
const pending = new Map<number, Pending>()

/**
 * The worker's entry: compiled JavaScript next to this file in an installed
 * package; in a checkout the TypeScript source, loaded through tsx (the
 * worker does not inherit the loader bin/dyncluster.js registered).
 */
const startWorker = (): Worker => {
  const here = import.meta.url
  const w = here.endsWith(".ts")
    ? new Worker(
        // import(), not require: the code is a module when the process runs with --input-type=module
        `import("node:worker_threads").then(({ workerData }) =>
           import(workerData.tsx).then((m) => { m.register(); return import(workerData.main) }))`,
        {
          eval: true,
          workerData: {
            tsx: pathToFileURL(join(dirname(createRequire(here).resolve("tsx/package.json")), "dist/esm/api/index.mjs")).href,
            main: new URL("./parse-worker-main.ts", here).href
          }
        }
      )
    : new Worker(new URL("./parse-worker-main.js", here))
  const failAll = (why: string) => {
    if (worker === w) worker = null
    for (const [id, p] of pending) {
      pending.delete(id)
      p.done(Either.left(new ParseError({ source: p.parser, message: `the parse worker failed: ${why}` })))
    }
  }
  w.on("message", (m: WorkerReply) => {
    const p = pending.get(m.id)
    if (p === undefined) return
    if (m.ok) {
      p.parts.push(m.part)
      if (!m.done) {
        // the next batch in a later turn of the event loop (see workerHandler)
        setImmediate(() => {
          if (pending.has(m.id)) w.postMessage({ id: m.id, more: true } satisfies WorkerRequest)
        })
        return
      }
    }
    pending.delete(m.id)
    idle(w)
    const value = p.parts.length === 1 ? p.parts[0] : ([] as Array<unknown>).concat(...(p.parts as Array<Array<unknown>>))
    p.done(m.ok ? Either.right(value) : Either.left(new ParseError({ source: m.source, message: m.message })))
  })
  w.on("error", (e) => failAll(e.message))
  w.on("exit", (code) => failAll(`it exited (code ${code})`))
  // after the listeners (adding a "message" listener refs the worker again)
  w.unref()
  return w
}

/**
 * Runs the named parser in the worker thread; the result is plain data, errors
 * are ParseErrors. The text goes over in slices, one per turn of the event
 * loop (see HandOff).
 */
export const parseInWorker = <K extends JobParser>(parser: K, text: string, handOff: HandOff = HANDOFF): Effect.Effect<Parsed<K>, ParseError> =>
  Effect.async<Parsed<K>, ParseError>((resume) => {
    const id = nextId++
    const fail = (why: string) => {
      if (!pending.delete(id)) return
      if (worker !== null) idle(worker)
      resume(Effect.fail(new ParseError({ source: parser, message: why })))
    }
    pending.set(id, { parser, parts: [], done: (e) => resume(Either.match(e, { onLeft: Effect.fail, onRight: (v) => Effect.succeed(v as Parsed<K>) })) })
    let w: Worker
    try {
      if (worker === null) worker = startWorker()
      w = worker
      w.ref()
    } catch (e) {
      fail(`cannot start the parse worker: ${e instanceof Error ? e.message : String(e)}`)
      return
    }
    const send = (at: number) => {
      // cancelled, answered, or the worker died: stop sending
      if (!pending.has(id)) return
      try {
        let end = typeof text === "string" ? Math.min(text.length, at + handOff.chunkChars) : 0
        // never cut a surrogate pair in two
        if (typeof text === "string" && end < text.length && end > at + 1 && (text.charCodeAt(end - 1) & 0xfc00) === 0xd800) end--
        const last = typeof text !== "string" || end >= text.length
        w.postMessage({ id, parser, chunk: typeof text === "string" ? text.slice(at, end) : text, last, replyJobs: handOff.replyJobs } satisfies WorkerRequest)
        if (!last) setImmediate(send, end)
      } catch (e) {
        try {
          w.postMessage({ id, cancel: true } satisfies WorkerRequest)
        } catch {
          // the worker is gone; nothing to cancel
        }
        fail(`cannot hand the text to the parse worker: ${e instanceof Error ? e.message : String(e)}`)
      }
    }
    send(0)
    return Effect.sync(() => {
      if (pending.delete(id)) {
        try {
          w.postMessage({ id, cancel: true } satisfies WorkerRequest)
        } catch {
          // the worker is gone; nothing to cancel
        }
      }
      if (worker !== null) idle(worker)
    })
  })

/**
 * Parses a batch command's job listing: inline when it is small (or not text,
 * which the parser refuses with its own error), in the worker thread otherwise.
 */
export const parseJobs = <K extends JobParser>(
  parser: K,
  text: unknown,
  inlineMaxChars = INLINE_MAX_CHARS,
  handOff: HandOff = HANDOFF
): Effect.Effect<Parsed<K>, ParseError> =>
  typeof text === "string" && text.length > inlineMaxChars
    ? parseInWorker(parser, text, handOff)
    : Effect.suspend(() => {
        const r = (jobParsers[parser] as (t: unknown) => Either.Either<Parsed<K>, ParseError>)(text)
        return Either.isRight(r) ? Effect.succeed(r.right) : Effect.fail(r.left)
      })
