/**
 * The engine lock: one step or operator action at a time, and the state
 * version of api.stamp. A free lock is taken without suspending the fiber
 * (Effect's semaphore always resumes through the scheduler, ~10 µs per step).
 * The lock is taken and released only in uninterruptible code; a waiter waits
 * interruptibly and is woken (with every other waiter, to try again) when the
 * lock is released. Tested in lock.test.ts.
 */
import { Effect } from "effect"

/** State versions of every engine of the process (api.stamp): a restarted engine never repeats one. */
let versionSeq = 0

export const makeLock = () => {
  /**
   * api.stamp: a new version when a step, a skipped step or an operator
   * action starts and when it ends; `changing` > 0 while one runs (its
   * changes may straddle a suspension, so its state is never cached).
   */
  let version = ++versionSeq
  let changing = 0
  let held = false
  /** A step holding the lock is paused (engine.ts EngineOptions.pause): its state does not change meanwhile. */
  let steady = false
  /** No pause of the change holding the lock yet (its first pause always gets a new version). */
  let fresh = false
  const waiters = new Set<() => void>()
  const released: Effect.Effect<void> = Effect.async<void>((resume) => {
    // released since the waiter looked (the fiber may have yielded in between): go on at once
    if (!held) return resume(Effect.void)
    const wake = () => {
      waiters.delete(wake)
      resume(Effect.void)
    }
    waiters.add(wake)
    return Effect.sync(() => {
      waiters.delete(wake)
    })
  })
  const unlock = () => {
    steady = false
    changing--
    version = ++versionSeq
    held = false
    if (waiters.size > 0) for (const wake of [...waiters]) wake()
  }
  /** Runs `eff` holding the engine lock, as a change of the state for api.stamp. */
  const exclusive = <A, E, R>(eff: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) => {
      // (each Effect operation counts: a step runs this once, bench/sim-trace)
      const take = (): Effect.Effect<A, E, R> => {
        if (held) return Effect.zipRight(restore(released), Effect.suspend(take))
        held = true
        fresh = true
        version = ++versionSeq
        changing++
        // (Effect.ensuring, without its own uninterruptible region: this one is)
        return Effect.matchCauseEffect(restore(eff), {
          onFailure: (cause) =>
            Effect.suspend(() => {
              unlock()
              return Effect.failCause(cause)
            }),
          onSuccess: (a) =>
            Effect.sync(() => {
              unlock()
              return a
            })
        })
      }
      return take()
    })
  return {
    exclusive,
    /** A change outside the lock (a skipped step). */
    bump: () => {
      version = ++versionSeq
    },
    /**
     * The step holding the lock pauses: until `resumed`, its state stands
     * still, and api.stamp gives a version for it (a new one when `changed`:
     * the step changed the state since its last pause or since it started;
     * else the one of its last pause, so that bodies cached then serve again).
     */
    pausing: (changed: boolean) => {
      if (changed || fresh) version = ++versionSeq
      fresh = false
      steady = true
    },
    resumed: () => {
      steady = false
    },
    /** The version for api.stamp: null while a change runs (but for a step's pauses). */
    version: (): number | null => (changing > 0 && !steady ? null : version)
  }
}
