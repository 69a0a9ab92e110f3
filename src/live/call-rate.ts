/**
 * The call rate of one cloud client (issue 20, "throttle"): unlimited until
 * the cloud throttles a call (EC2 RequestLimitExceeded, HTTP 429: error kind
 * `ratelimit`), then a token bucket. Each throttled answer halves the rate
 * (the first sets it to `start`), down to `floor`; every `recoverAfter`
 * seconds without a throttled answer doubles it again, and past `ceiling`
 * the limit is lifted. A throttled call is the cloud's answer, not a failure
 * of the resource: the engine does not count it as a failed boot, and only
 * waits out a Retry-After the cloud gives before booting there again
 * (actuation.ts); the other calls go on at the bucket's rate.
 *
 * Time comes from Effect's Clock (Effect.sleep, Clock.currentTimeMillis).
 */
import { Clock, Duration, Effect } from "effect"
import type { CloudError } from "../engine/services.ts"

export interface CallRateOptions {
  /** Calls per second after the first throttled answer (default 2). */
  readonly start?: number
  /** The lowest rate, calls per second (default 0.1: one call every 10 s). */
  readonly floor?: number
  /** Above this rate the limit is lifted (default 64). */
  readonly ceiling?: number
  /** Seconds without a throttled answer before the rate doubles (default 60). */
  readonly recoverAfter?: number
}

export interface CallRate {
  /** Runs one API call under the limit, and learns from its answer. */
  readonly around: <A>(call: Effect.Effect<A, CloudError>) => Effect.Effect<A, CloudError>
  /** Calls per second allowed now (Infinity: no limit). */
  readonly rate: () => number
}

export const makeCallRate = (o: CallRateOptions = {}): CallRate => {
  const start = o.start ?? 2
  const floor = o.floor ?? 0.1
  const ceiling = o.ceiling ?? 64
  const recoverMs = (o.recoverAfter ?? 60) * 1000
  let rate = Infinity
  /** Tokens in the bucket at `last` (negative: calls already waiting for them). */
  let tokens = 0
  let last = 0
  let lastThrottle = 0

  /** Takes a token; the wait (ms) until it is there. */
  const take = (now: number): number => {
    if (rate === Infinity) return 0
    tokens = Math.min(Math.max(1, rate), tokens + ((now - last) / 1000) * rate)
    last = now
    tokens -= 1
    return tokens >= 0 ? 0 : (-tokens / rate) * 1000
  }

  const learn = (e: CloudError | null, now: number): void => {
    if (e !== null && e.kind === "ratelimit") {
      if (rate === Infinity) {
        rate = start
        tokens = 0
        last = now
      } else rate = Math.max(floor, rate / 2)
      lastThrottle = now
      tokens = Math.min(tokens, 0)
      return
    }
    if (rate !== Infinity && now - lastThrottle >= recoverMs) {
      rate *= 2
      lastThrottle = now
      if (rate > ceiling) rate = Infinity
    }
  }

  const around = <A>(call: Effect.Effect<A, CloudError>): Effect.Effect<A, CloudError> =>
    Effect.gen(function* () {
      const wait = take(yield* Clock.currentTimeMillis)
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
      return yield* Effect.tapBoth(call, {
        onFailure: (e) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => learn(e, now))),
        onSuccess: () => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => learn(null, now)))
      })
    })

  return { around, rate: () => rate }
}
