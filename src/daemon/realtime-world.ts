/**
 * A SimWorld in real time under `dyncluster run --config`: the simulated
 * batch system of `cluster.type: simulated` (sim-cluster.ts) and the
 * simulated cloud of `cloud.<res>.type: simulated` (sim-cloud.ts) both run
 * this way. The world's time follows the daemon's Clock (t = 0 when the
 * world is made): every call into the world first processes what is due up
 * to the Clock's "now", and a forked fiber moves time along between calls,
 * waking for each world event (or every 5 s). The world's event lines become
 * log lines of the daemon.
 */
import { Clock, Effect, type Scope } from "effect"
import type { SimWorld } from "../sim/world.ts"
import type { LogSink } from "./log.ts"
import { makeWake } from "./loop.ts"

export interface RealTimeWorld {
  /** Clock seconds at the world's t = 0 (what simClusterService / simCloudService take as epoch). */
  readonly epoch: number
  /** Processes every world event due up to the Clock's "now", in order. */
  readonly sync: Effect.Effect<void>
  /** `eff` on a world that is up to date; the ticker is woken afterwards (the call may have scheduled new events). */
  readonly synced: <A, E>(eff: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

/** Runs `world` in Clock time for as long as the scope lives; `afterSync` runs after each catch-up. */
export const runInRealTime = (world: SimWorld, afterSync: () => void = () => {}): Effect.Effect<RealTimeWorld, never, Scope.Scope> =>
  Effect.gen(function* () {
    const startMs = yield* Clock.currentTimeMillis
    const wake = yield* makeWake
    const sync = Effect.map(Clock.currentTimeMillis, (ms) => {
      const t = round3((ms - startMs) / 1000)
      while (world.nextEventTime() <= t) world.processEventsAt(world.nextEventTime())
      if (world.now < t) world.now = t
      afterSync()
    })
    const ticker = Effect.forever(
      Effect.gen(function* () {
        yield* sync
        const next = world.nextEventTime()
        yield* wake.sleep(Math.min(5, next === Infinity ? 5 : next - world.now))
      })
    )
    yield* Effect.forkScoped(ticker)
    return {
      epoch: startMs / 1000,
      sync,
      synced: <A, E>(eff: Effect.Effect<A, E>) => Effect.zipRight(sync, eff).pipe(Effect.ensuring(Effect.sync(wake.signal)))
    }
  })

/**
 * The world's event lines as log lines of the daemon: `${label}: ${ev}`,
 * at info for the events in `info`, else debug; `sim_time` is the world's time.
 */
export const worldEventLogger = (log: LogSink, label: string, info: ReadonlySet<string>) => (line: string) => {
  const { ev, t, ...fields } = JSON.parse(line) as { ev: string; t: number } & Record<string, unknown>
  const level = info.has(ev) ? "info" : "debug"
  if (log.enabled(level)) log.log(level, `${label}: ${ev}`, { ...fields, sim_time: t })
}
