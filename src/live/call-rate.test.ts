/**
 * The call rate of a cloud client (call-rate.ts): unlimited until the cloud
 * throttles, then a token bucket that halves on each throttle and doubles
 * back after calm minutes, in virtual time (TestClock).
 */
import { Effect, Fiber, TestClock, TestContext } from "effect"
import { describe, expect, it } from "vitest"
import { CloudError } from "../engine/services.ts"
import { makeCallRate } from "./call-rate.ts"

const throttled = Effect.fail(new CloudError({ resource: "r", op: "list", kind: "ratelimit", message: "RequestLimitExceeded" }))
const fine = Effect.succeed(1)
const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(Effect.provide(e, TestContext.TestContext))
/** Moves virtual time on in small steps, letting the sleeping fibers run between them. */
const advance = (ms: number) =>
  Effect.forEach(Array.from({ length: ms / 50 }), () => Effect.zipRight(TestClock.adjust("50 millis"), Effect.yieldNow()), { discard: true })

describe("call rate", () => {
  it("is unlimited until a throttle, then spaces the calls at the rate, halving on each throttle down to the floor", () =>
    run(
      Effect.gen(function* () {
        const cr = makeCallRate({ start: 2, floor: 0.5 })
        // unlimited: 100 calls at the same instant
        for (let i = 0; i < 100; i++) yield* cr.around(fine)
        yield* Effect.either(cr.around(throttled))
        expect(cr.rate()).toBe(2)
        // 4 calls at 2/s: not done before 2 s of virtual time
        const f = yield* Effect.fork(Effect.forEach([1, 2, 3, 4], () => cr.around(fine)))
        yield* Effect.yieldNow()
        yield* advance(1500)
        expect(f.unsafePoll()).toBeNull()
        yield* advance(600)
        expect(yield* Fiber.join(f)).toEqual([1, 1, 1, 1])
        // throttled calls wait for their token too
        const g = yield* Effect.fork(Effect.either(cr.around(throttled)))
        yield* advance(1000)
        yield* Fiber.join(g)
        expect(cr.rate()).toBe(1)
        const h = yield* Effect.fork(Effect.forEach([1, 2], () => Effect.either(cr.around(throttled))))
        yield* advance(5000)
        yield* Fiber.join(h)
        expect(cr.rate()).toBe(0.5)
      })
    ))

  it("doubles after each calm minute and lifts the limit past the ceiling", () =>
    run(
      Effect.gen(function* () {
        const cr = makeCallRate({ start: 2, ceiling: 8, recoverAfter: 60 })
        yield* Effect.either(cr.around(throttled))
        for (const want of [4, 8, Infinity]) {
          yield* TestClock.adjust("61 seconds")
          yield* cr.around(fine)
          expect(cr.rate()).toBe(want)
        }
      })
    ))
})
