/**
 * `dyncluster traces list | fetch NAME... | path NAME`: the trace catalogue
 * (src/sim/traces.ts). `fetch` downloads into the cache with a progress bar on
 * a terminal (plain lines otherwise), checks the content's sha256 and only
 * then moves the file into place; `path` prints where a trace is, or the one
 * line that says how to fetch it.
 */
import { Args, Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { fail } from "./options.ts"
import { barText } from "./progress-bar.ts"
import { CATALOGUE, cacheDir, fetchTrace, findTrace, locateTrace, notHere, sharedTracesDir, unknownTrace, verifyFile, type FetchProgress, type TraceEntry } from "../sim/traces.ts"

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`

/** Catalogue entries by name; the first unknown name is an error with a suggestion. */
const entries = (names: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out: Array<TraceEntry> = []
    for (const n of names) {
      const t = findTrace(n)
      if (t === undefined) return yield* fail(unknownTrace(n))
      if (!out.includes(t)) out.push(t)
    }
    return out
  })

/** A bar redrawn in place on a terminal; a line at the start and at the end otherwise. */
const progressOn = (tty: boolean): FetchProgress => {
  let shown = 0
  return {
    start: (t, url, total) => {
      shown = 0
      process.stderr.write(`fetching ${t.name} (${total !== null ? mb(total) : "size unknown"}) from ${url}\n`)
    },
    bytes: (t, received, total) => {
      if (!tty) return
      const now = performance.now()
      if (now - shown < 100 && received !== total) return
      shown = now
      process.stderr.write(`\r\x1b[K${barText(total !== null ? received / total : 0)}  ${mb(received)}${total !== null ? ` of ${mb(total)}` : ""}  ${t.name}`)
    },
    done: (t, path, received) => {
      if (tty) process.stderr.write("\r\x1b[K")
      process.stderr.write(`${t.name}: ${mb(received)}, checksum verified, saved as ${path}\n`)
    }
  }
}

const names = Args.text({ name: "NAME" }).pipe(Args.repeated, Args.withDescription("catalogue names (see traces list)"))
const name = Args.text({ name: "NAME" }).pipe(Args.withDescription("a catalogue name (see traces list)"))

const listCommand = Command.make("list", {}, () =>
  Effect.gen(function* () {
    const rows = CATALOGUE.map((t) => {
      const at = locateTrace(t)
      return [t.name, `${t.jobs.toLocaleString("en")} jobs`, mb(t.size), at === null ? "not here" : at, t.description] as const
    })
    const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)))
    for (const r of rows) yield* Console.log(`${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}  ${r[4]}\n  ${r[3]}`)
    yield* Console.log(`\nsearched: ${sharedTracesDir()}, then the cache ${cacheDir()} ($DYNCLUSTER_TRACES)`)
  })
).pipe(Command.withDescription("List the catalogue: name, jobs, size, what the log is, and where it is on this machine (or 'not here')"))

const fetchCommand = Command.make("fetch", { names }, (a) =>
  Effect.gen(function* () {
    if (a.names.length === 0) return yield* fail(`traces fetch: name at least one trace (known: ${CATALOGUE.map((t) => t.name).join(", ")})`)
    const todo = yield* entries(a.names)
    const dir = cacheDir()
    const progress = progressOn(process.stderr.isTTY === true)
    const baseUrl = process.env.DYNCLUSTER_TRACES_URL
    let failed = 0
    for (const t of todo) {
      const cached = `${dir}/${t.file}`
      if (verifyFile(t, cached)) {
        yield* Console.error(`${t.name}: already in the cache (${cached})`)
        continue
      }
      const r = yield* Effect.either(fetchTrace(t, { dir, baseUrl, progress }))
      if (r._tag === "Left") {
        failed++
        yield* Console.error(`error: ${r.left.message}`)
      }
    }
    if (failed > 0) return yield* Effect.sync(() => process.exit(1))
  })
).pipe(
  Command.withDescription(
    "Download traces into the cache ($DYNCLUSTER_TRACES, else $XDG_CACHE_HOME or ~/.cache, then dyncluster/traces), " +
      "verify each one's checksum and move it into place; a failed or interrupted download leaves nothing behind. " +
      "$DYNCLUSTER_TRACES_URL replaces the archive's address (a mirror)"
  )
)

const pathCommand = Command.make("path", { name }, (a) =>
  Effect.gen(function* () {
    const [t] = yield* entries([a.name])
    const at = locateTrace(t)
    if (at === null) return yield* fail(notHere(t))
    yield* Console.log(at)
  })
).pipe(Command.withDescription("Print where a trace is on this machine (../shared/traces beside the checkout, then the cache)"))

export const tracesCommand = Command.make("traces").pipe(
  Command.withDescription("The trace catalogue (Parallel Workloads Archive logs the scenarios replay): list, fetch, path"),
  Command.withSubcommands([listCommand, fetchCommand, pathCommand])
)
