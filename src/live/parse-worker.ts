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

/** A message from the worker: the parser's result, or its error as plain data. */
export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly source: string; readonly message: string }

/** What the worker does with one request: run the named parser; never throws. */
export const runParser = (id: number, parser: string, text: unknown): WorkerReply => {
  const parse = (jobParsers as Record<string, (t: string) => Either.Either<unknown, ParseError>>)[parser]
  if (parse === undefined) return { id, ok: false, source: parser, message: `no such parser in the parse worker` }
  try {
    const r = parse(text as string)
    return Either.isRight(r) ? { id, ok: true, value: r.right } : { id, ok: false, source: r.left.source, message: r.left.message }
  } catch (e) {
    return { id, ok: false, source: parser, message: `parser failed: ${e instanceof Error ? e.message : String(e)}` }
  }
}

/** The worker keeps the process alive only while a parse is in flight. */
const idle = (w: Worker) => {
  if (pending.size === 0) w.unref()
}

interface Pending {
  readonly parser: JobParser
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
    pending.delete(m.id)
    idle(w)
    p.done(m.ok ? Either.right(m.value) : Either.left(new ParseError({ source: m.source, message: m.message })))
  })
  w.on("error", (e) => failAll(e.message))
  w.on("exit", (code) => failAll(`it exited (code ${code})`))
  // after the listeners (adding a "message" listener refs the worker again)
  w.unref()
  return w
}

/** Runs the named parser in the worker thread; the result is plain data, errors are ParseErrors. */
export const parseInWorker = <K extends JobParser>(parser: K, text: string): Effect.Effect<Parsed<K>, ParseError> =>
  Effect.async<Parsed<K>, ParseError>((resume) => {
    const id = nextId++
    pending.set(id, { parser, done: (e) => resume(Either.match(e, { onLeft: Effect.fail, onRight: (v) => Effect.succeed(v as Parsed<K>) })) })
    try {
      if (worker === null) worker = startWorker()
      worker.ref()
      worker.postMessage({ id, parser, text })
    } catch (e) {
      pending.delete(id)
      resume(Effect.fail(new ParseError({ source: parser, message: `cannot start the parse worker: ${e instanceof Error ? e.message : String(e)}` })))
    }
    return Effect.sync(() => {
      pending.delete(id)
      if (worker !== null) idle(worker)
    })
  })

/**
 * Parses a batch command's job listing: inline when it is small (or not text,
 * which the parser refuses with its own error), in the worker thread otherwise.
 */
export const parseJobs = <K extends JobParser>(parser: K, text: unknown, inlineMaxChars = INLINE_MAX_CHARS): Effect.Effect<Parsed<K>, ParseError> =>
  typeof text === "string" && text.length > inlineMaxChars
    ? parseInWorker(parser, text)
    : Effect.suspend(() => {
        const r = (jobParsers[parser] as (t: unknown) => Either.Either<Parsed<K>, ParseError>)(text)
        return Either.isRight(r) ? Effect.succeed(r.right) : Effect.fail(r.left)
      })
