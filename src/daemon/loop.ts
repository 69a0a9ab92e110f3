/**
 * The live engine loop: step, then sleep until the engine's next wake-up
 * (engine.nextWake) or until something wakes it earlier (a task result, an
 * operator action), and measure each step's wall time for the cycle
 * histogram. It never spins: there is a minimum gap between steps.
 */
import { Clock, Duration, Effect, Queue } from "effect"
import type { Engine, EngineEnv } from "../engine/engine.ts"
import type { CycleHistogram } from "../http/metrics.ts"

/** A wake-up signal that can be raised from plain callbacks (the task runner's onResult). */
export interface Wake {
  /** Raise the signal (synchronous, safe from any callback). Several raises before a wait count as one. */
  readonly signal: () => void
  /** Sleep `seconds` or until the signal is raised, whichever comes first; true when woken by the signal. */
  readonly sleep: (seconds: number) => Effect.Effect<boolean>
}

export const makeWake: Effect.Effect<Wake> = Effect.map(Queue.sliding<void>(1), (q) => ({
  signal: () => {
    Queue.unsafeOffer(q, undefined)
  },
  sleep: (seconds) =>
    Effect.raceFirst(
      Effect.as(Effect.sleep(Duration.millis(Math.max(0, seconds * 1000))), false),
      Effect.as(Queue.take(q), true)
    )
}))

/**
 * The engine's pause between the phases of a step (engine.ts
 * `EngineOptions.pause`): resumes from a `setImmediate`, i.e. after Node has
 * polled for I/O once, so HTTP requests that came in meanwhile are answered
 * before the step goes on. A microtask yield (Effect.yieldNow) would not let
 * them in.
 */
export const letEventLoopIn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const h = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(h))
})

/** The daemon's time slice (ms): the engine lets the event loop in once it has held it this long. */
export const SLICE_MS = 5

/**
 * The daemon's pause (engine.ts `EngineOptions.pause`): `letEventLoopIn`
 * once the engine has held the event loop `sliceMs` (wall clock) since it
 * last let it in, else nothing. The engine offers a pause between the phases
 * of a step and every few hundred queued jobs of its longer walks (steps.ts);
 * taking each would cost a turn of the event loop every ~0.5 ms of work.
 * Each daemon makes its own (it remembers when it last let the loop in).
 */
export const slicedPause = (sliceMs = SLICE_MS): Effect.Effect<void> => {
  let resumed = performance.now()
  const mark = Effect.sync(() => {
    resumed = performance.now()
  })
  const pause = Effect.zipRight(letEventLoopIn, mark)
  return Effect.suspend(() => (performance.now() - resumed < sliceMs ? Effect.void : pause))
}

export interface LiveLoopOptions {
  readonly engine: Engine
  readonly wake: Wake
  readonly histogram: CycleHistogram
  /** Smallest gap between two steps, in seconds (default 0.05): a storm of wake-ups cannot make it spin. */
  readonly minGap?: number
  /** Longest sleep, in seconds (default 60), whatever nextWake says. */
  readonly maxSleep?: number
}

/** Wall-clock seconds of one effect (a metric, not engine time). */
export const timed = <A, E, R>(eff: Effect.Effect<A, E, R>, observe: (seconds: number) => void): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const t0 = performance.now()
    return Effect.ensuring(eff, Effect.sync(() => observe((performance.now() - t0) / 1000)))
  })

export const runLiveLoop = (opts: LiveLoopOptions): Effect.Effect<never, never, EngineEnv> => {
  const minGap = opts.minGap ?? 0.05
  const maxSleep = opts.maxSleep ?? 60
  return Effect.gen(function* () {
    for (;;) {
      const started = yield* Clock.currentTimeMillis
      yield* timed(opts.engine.step, opts.histogram.observe)
      const now = (yield* Clock.currentTimeMillis) / 1000
      const due = opts.engine.nextWake() - now
      yield* opts.wake.sleep(Math.min(maxSleep, Math.max(minGap, due)))
      const since = ((yield* Clock.currentTimeMillis) - started) / 1000
      if (since < minGap) yield* Effect.sleep(Duration.millis((minGap - since) * 1000))
    }
  })
}
