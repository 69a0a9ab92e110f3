/**
 * The bounded history of node and core counts by state that
 * `GET /server/history` serves, so that the dashboard shows the last hours
 * as soon as it loads. Times are the engine's Clock (the daemon's clock;
 * simulated time under `run --sim`). A point is kept only when a count
 * changed, so the bound (default 10,000 points) covers hours even when the
 * counts change at every sample, and days of a steady cluster.
 */
import { Duration, Effect } from "effect"
import type { EngineApi } from "../engine/api.ts"
import { NodeStateNames } from "../model/types.ts"

/** The states counted, in the order of each point's arrays (every state but Inexistent). */
export const HISTORY_STATES: ReadonlyArray<string> = NodeStateNames.slice(1)

export const DEFAULT_HISTORY_POINTS = 10_000

export interface HistoryPoint {
  /** Seconds since the epoch (engine Clock) from which these counts held. */
  readonly t: number
  /** Nodes per state, in HISTORY_STATES order. */
  readonly nodes: ReadonlyArray<number>
  /** Cores (num_proc) of those nodes per state. */
  readonly cores: ReadonlyArray<number>
}

/** The body of GET /server/history. */
export interface HistoryAnswer {
  /** Engine Clock time of the last sample (the counts of the last point still held then); null before the first. */
  readonly time: number | null
  readonly states: ReadonlyArray<string>
  readonly max_points: number
  /** Oldest first; with `since`, the points at or after it. */
  readonly points: ReadonlyArray<HistoryPoint>
}

export interface NodeHistory {
  /** The counts seen at `time`; a point is added only when they differ from the last point's. */
  readonly record: (time: number, counts: Pick<HistoryPoint, "nodes" | "cores">) => void
  readonly answer: (since?: number) => HistoryAnswer
}

/** Counts by state (HISTORY_STATES order) of a node listing. */
export const countByState = (nodes: ReadonlyArray<{ readonly state: number; readonly num_proc: number | null }>): Pick<HistoryPoint, "nodes" | "cores"> => {
  const n = HISTORY_STATES.map(() => 0)
  const c = HISTORY_STATES.map(() => 0)
  for (const node of nodes) {
    const k = node.state - 1
    if (k < 0 || k >= n.length) continue
    n[k] += 1
    c[k] += Number(node.num_proc) || 0
  }
  return { nodes: n, cores: c }
}

const same = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => a.length === b.length && a.every((v, i) => v === b[i])

export const makeNodeHistory = (maxPoints: number = DEFAULT_HISTORY_POINTS): NodeHistory => {
  const max = Math.max(1, Math.floor(maxPoints))
  let points: Array<HistoryPoint> = []
  let time: number | null = null
  return {
    record: (t, counts) => {
      // The clock never goes back; a sample from before the last one (a slow snapshot) is dropped.
      if (time !== null && t < time) return
      time = t
      const last = points[points.length - 1]
      if (last !== undefined && same(last.nodes, counts.nodes) && same(last.cores, counts.cores)) return
      const point = { t, nodes: [...counts.nodes], cores: [...counts.cores] }
      if (last !== undefined && last.t === t) points[points.length - 1] = point
      else points.push(point)
      // Trimmed in batches, so a full history costs no copy per sample.
      if (points.length > max + Math.ceil(max / 8)) points = points.slice(points.length - max)
    },
    answer: (since) => {
      const from = Math.max(0, points.length - max)
      let lo = from
      if (since !== undefined) {
        let hi = points.length
        while (lo < hi) {
          const mid = (lo + hi) >>> 1
          if (points[mid].t < since) lo = mid + 1
          else hi = mid
        }
      }
      return { time, states: HISTORY_STATES, max_points: max, points: points.slice(lo) }
    }
  }
}

/**
 * Samples the engine into `history` every `everySeconds` of the caller's
 * Clock, for ever (fork it). With a stamp, a snapshot is taken only when the
 * engine's state changed since the last sample; otherwise only the time moves.
 */
export const sampleHistory = (api: EngineApi, history: NodeHistory, everySeconds = 1): Effect.Effect<never> =>
  Effect.gen(function* () {
    let version: number | null = null
    let counts: Pick<HistoryPoint, "nodes" | "cores"> | null = null
    for (;;) {
      const stamp = api.stamp === undefined ? null : yield* api.stamp
      if (stamp !== null && counts !== null && stamp.version !== null && stamp.version === version) history.record(stamp.time, counts)
      else {
        const s = yield* api.snapshot
        counts = countByState(s.nodes)
        version = stamp?.version ?? null
        history.record(s.time, counts)
      }
      yield* Effect.sleep(Duration.seconds(everySeconds))
    }
  }) as Effect.Effect<never>
