/**
 * Cloud and cluster calls run as tasks with bounded concurrency
 * (`worker_thread_number`); their results flow back into the engine, which
 * applies them at its next step. The engine never waits for a task.
 */
import { Effect, FiberSet, Scope } from "effect"
import type { TaskQueues } from "./api.ts"

/** A finished task's effect on the engine state, applied by the engine at `now` (seconds). */
export type Apply = (now: number) => void

export interface TaskRunner {
  /** Queue a task; it must not fail (the engine turns failures into an Apply). */
  readonly submit: (label: string, task: Effect.Effect<Apply>) => Effect.Effect<void>
  /** Take the results that arrived since the last call, in completion order. */
  readonly drain: () => ReadonlyArray<Apply>
  readonly stats: () => TaskQueues
}

/**
 * Live runner: tasks run on fibers, at most `workers` at once. `onResult`
 * wakes the engine loop so results are applied promptly.
 */
export const makeLiveTaskRunner = (
  workers: number,
  onResult: () => void
): Effect.Effect<TaskRunner & { readonly shutdown: Effect.Effect<void> }, never, Scope.Scope> =>
  Effect.gen(function* () {
    const sem = yield* Effect.makeSemaphore(Math.max(1, workers))
    const fibers = yield* FiberSet.make()
    const results: Array<Apply> = []
    let waiting = 0
    let running = 0
    const runner: TaskRunner & { shutdown: Effect.Effect<void> } = {
      submit: (label, task) =>
        Effect.suspend(() => {
          waiting++
          const run = sem.withPermits(1)(
            Effect.suspend(() => {
              waiting--
              running++
              return task
            }).pipe(
              Effect.catchAllDefect((d) =>
                Effect.logError(`task ${label} died`, d).pipe(Effect.as<Apply>(() => {}))
              ),
              Effect.tap((apply) =>
                Effect.sync(() => {
                  results.push(apply)
                  onResult()
                })
              ),
              Effect.ensuring(Effect.sync(() => running--)),
              Effect.withSpan(`task ${label}`)
            )
          )
          return FiberSet.run(fibers, run).pipe(Effect.asVoid)
        }),
      drain: () => results.splice(0, results.length),
      stats: () => ({ waiting, running, results_pending: results.length }),
      // Tasks in flight are interrupted; every task is written so that an
      // interruption leaves nothing half-done that start-up recovery cannot repair.
      shutdown: FiberSet.clear(fibers)
    }
    return runner
  })
