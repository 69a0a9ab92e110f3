/**
 * The Graphite plugin of SPEC §2 (`plugins.graphite`): every `interval`
 * seconds (30 by default) send node and core counts by state, in total and
 * per resource, in Graphite's plaintext protocol (`path value timestamp\n`)
 * over TCP. Failures are logged, never fatal: the scaler does not depend on
 * its monitoring.
 */
import * as net from "node:net"
import { Clock, Data, Duration, Effect, Schedule } from "effect"
import type { Snapshot } from "../engine/api.ts"
import { nodeResource } from "../http/metrics.ts"
import { NodeState, type WorkerNode } from "../model/types.ts"
import type { LogSink } from "./log.ts"
import type { GraphiteSettings } from "./settings.ts"

export class GraphiteError extends Data.TaggedError("GraphiteError")<{ readonly message: string }> {}

/**
 * The classic series names. `vacating` counts nodes being taken out of
 * service (Holding: held with jobs still running, and Held: drained, about to
 * be removed); `holding` and `held` are also sent apart.
 */
export const GRAPHITE_STATES = ["total", "starting", "idle", "busy", "vacating", "holding", "held", "deleting", "error"] as const

const bucketsOf = (n: WorkerNode): ReadonlyArray<(typeof GRAPHITE_STATES)[number]> => {
  switch (n.state) {
    case NodeState.Starting:
      return ["total", "starting"]
    case NodeState.Idle:
      return ["total", "idle"]
    case NodeState.Busy:
      return ["total", "busy"]
    case NodeState.Holding:
      return ["total", "vacating", "holding"]
    case NodeState.Held:
      return ["total", "vacating", "held"]
    case NodeState.Deleting:
      return ["total", "deleting"]
    case NodeState.Error:
      return ["total", "error"]
    default:
      return ["total"]
  }
}

/** One path segment: Graphite separates on dots and cannot take blanks. */
export const graphiteSegment = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, "_") || "_"

/** The prefix keeps its dots (its hierarchy); everything else unsafe becomes "_". */
export const graphitePrefix = (p: string): string =>
  p
    .split(".")
    .filter((s) => s !== "")
    .map(graphiteSegment)
    .join(".")

/**
 * The plaintext payload for one snapshot: `<prefix>.nodes.<state>`,
 * `<prefix>.cores.<state>`, and the same under `<prefix>.resources.<name>.`
 * for every configured resource (and `physical` for the nodes the scaler did
 * not start). Zeros are sent too, so a series never stops.
 */
export const graphiteLines = (snapshot: Snapshot, prefix: string, timestamp: number): string => {
  const p = graphitePrefix(prefix)
  const ts = Math.floor(timestamp)
  const groups = new Map<string, { nodes: Map<string, number>; cores: Map<string, number> }>()
  const group = (key: string) => {
    let g = groups.get(key)
    if (g === undefined) {
      g = { nodes: new Map(GRAPHITE_STATES.map((s) => [s, 0])), cores: new Map(GRAPHITE_STATES.map((s) => [s, 0])) }
      groups.set(key, g)
    }
    return g
  }
  const all = group("")
  for (const r of snapshot.resources) group(r.name)
  for (const n of snapshot.nodes) {
    const cores = Number.isFinite(n.num_proc) ? n.num_proc : 0
    for (const g of [all, group(nodeResource(n))]) {
      for (const b of bucketsOf(n)) {
        g.nodes.set(b, g.nodes.get(b)! + 1)
        g.cores.set(b, g.cores.get(b)! + cores)
      }
    }
  }
  let out = ""
  for (const [key, g] of groups) {
    const base = key === "" ? p : `${p}.resources.${graphiteSegment(key)}`
    for (const s of GRAPHITE_STATES) out += `${base}.nodes.${s} ${g.nodes.get(s)} ${ts}\n`
    for (const s of GRAPHITE_STATES) out += `${base}.cores.${s} ${g.cores.get(s)} ${ts}\n`
  }
  return out
}

/** Connects, writes the payload, closes; fails on refusal, error or after `timeoutMs`. */
export const sendPlaintext = (hostname: string, port: number, payload: string, timeoutMs = 5000): Effect.Effect<void, GraphiteError> =>
  Effect.async<void, GraphiteError>((resume) => {
    let done = false
    const finish = (e: GraphiteError | null) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(e === null ? Effect.void : Effect.fail(e))
    }
    const socket = net.createConnection({ host: hostname, port })
    const timer = setTimeout(() => {
      socket.destroy()
      finish(new GraphiteError({ message: `no answer from ${hostname}:${port} within ${timeoutMs} ms` }))
    }, timeoutMs)
    socket.on("connect", () => socket.end(payload))
    socket.on("error", (e) => finish(new GraphiteError({ message: `${hostname}:${port}: ${e.message}` })))
    socket.on("close", (hadError) => {
      if (!hadError) finish(null)
    })
    return Effect.sync(() => {
      done = true
      clearTimeout(timer)
      socket.destroy()
    })
  })

/**
 * Reports now and then every `interval` seconds, forever. The first failure
 * of a streak is a warning, repeats are debug lines, and the recovery is said.
 */
export const runGraphiteReporter = (
  snapshot: Effect.Effect<Snapshot>,
  settings: GraphiteSettings,
  log: LogSink
): Effect.Effect<never> => {
  let failing = false
  const once = Effect.gen(function* () {
    const s = yield* snapshot
    const now = (yield* Clock.currentTimeMillis) / 1000
    const payload = graphiteLines(s, settings.prefix, now)
    const r = yield* Effect.either(sendPlaintext(settings.hostname, settings.port, payload))
    if (r._tag === "Left") {
      log.log(failing ? "debug" : "warn", `graphite: cannot send the node counts: ${r.left.message}; will retry in ${settings.interval}s`, {
        plugin: "graphite"
      })
      failing = true
    } else {
      if (failing) log.log("info", `graphite: sending to ${settings.hostname}:${settings.port} again`, { plugin: "graphite" })
      else log.log("debug", `graphite: sent ${payload.split("\n").length - 1} series`, { plugin: "graphite" })
      failing = false
    }
  }).pipe(
    // A bug here must not take the daemon down either.
    Effect.catchAllDefect((d) => Effect.sync(() => log.log("error", `graphite: report failed: ${String(d)}`, { plugin: "graphite" })))
  )
  return Effect.repeat(once, Schedule.spaced(Duration.seconds(settings.interval))).pipe(Effect.zipRight(Effect.never))
}
