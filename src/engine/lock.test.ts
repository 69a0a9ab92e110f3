/**
 * The engine runs one step or operator action at a time (its lock), and
 * api.stamp shows no version while one runs. The lock is the engine's own
 * (a free lock is taken without suspending): these tests hold it across a
 * real suspension (a cluster query waiting on a gate) and check that others
 * wait, that an interrupted waiter or holder does not keep it, and the stamp.
 */
import { Context, Deferred, Effect, Fiber, Option } from "effect"
import { describe, expect, it } from "vitest"
import { kitScenario } from "../sim/kit.ts"
import { SimTaskRunner, simClock, simContext } from "../sim/layers.ts"
import { makeRng } from "../sim/random.ts"
import { SimWorld } from "../sim/world.ts"
import { makeEngine } from "./engine.ts"
import { Cluster } from "./services.ts"
import { configuredPolicy } from "./policy.ts"

/** Lets forked fibers run until they block. */
const settle = Effect.forEach(Array.from({ length: 20 }), () => Effect.yieldNow(), { discard: true })

const k = kitScenario({ resources: [{ name: "os", max: 2 }], physical: [{ hostname: "p1", cores: 4 }] })

const setup = (world: SimWorld) => Effect.gen(function* () {
  const base = simContext(world, 0)
  const real = Context.get(base, Cluster)
  // the cluster query waits on the current gate: a step holds the lock across a suspension
  let gate = yield* Deferred.make<void>()
  const ctx = Context.add(base, Cluster, { ...real, query: Effect.zipRight(Effect.suspend(() => Deferred.await(gate)), real.query) })
  const tasks = new SimTaskRunner(1, 1, Effect.runSync)
  const engine = yield* makeEngine({ config: k.config, tasks, policy: configuredPolicy(k.config) }).pipe(Effect.provide(ctx))
  return {
    world,
    engine,
    step: engine.step.pipe(Effect.provide(ctx)),
    open: () => Deferred.succeed(gate, undefined),
    newGate: Effect.map(Deferred.make<void>(), (d) => {
      gate = d
    })
  }
})

/** Runs the test with a fresh world, the engine's Clock reading its virtual time. */
const run = <A>(test: (world: SimWorld) => Effect.Effect<A>) => {
  const world = new SimWorld(k.world, makeRng(1), () => {})
  return Effect.runPromise(Effect.withClock(test(world), simClock(world, 0)))
}

describe("the engine lock", () => {
  it("an operator action waits for a step that is suspended; an interrupted waiter does not take the lock", async () => {
    await run((world) =>
      Effect.gen(function* () {
        const s = yield* setup(world)
        const api = s.engine.api
        const before = yield* api.stamp!
        expect(before.version).not.toBeNull()

        const step = yield* Effect.fork(s.step)
        yield* settle
        // the step waits on the cluster query, holding the lock: the stamp says "changing"
        expect(Option.isNone(yield* Fiber.poll(step))).toBe(true)
        expect((yield* api.stamp!).version).toBeNull()

        const action = yield* Effect.fork(api.setAuto(false))
        const doomed = yield* Effect.fork(api.setAuto(true))
        yield* settle
        expect(Option.isNone(yield* Fiber.poll(action))).toBe(true)
        expect(Option.isNone(yield* Fiber.poll(doomed))).toBe(true)
        yield* Fiber.interrupt(doomed)

        yield* s.open()
        yield* Fiber.join(step)
        yield* Fiber.join(action)
        const after = yield* api.stamp!
        expect(after.version).not.toBeNull()
        expect(after.version).toBeGreaterThan(before.version!)
        // the interrupted action never ran: auto mode is what the waiting action set
        expect((yield* api.snapshot).status.auto_mode).toBe(false)
        // and the lock is free: an action now completes without waiting
        const next = yield* Effect.fork(api.setAuto(true))
        yield* settle
        expect(Option.isSome(yield* Fiber.poll(next))).toBe(true)
        expect((yield* api.snapshot).status.auto_mode).toBe(true)
      })
    )
  })

  it("a step interrupted while it holds the lock releases it", async () => {
    await run((world) =>
      Effect.gen(function* () {
        const s = yield* setup(world)
        const api = s.engine.api
        const step = yield* Effect.fork(s.step)
        yield* settle
        const action = yield* Effect.fork(api.setAuto(false))
        yield* settle
        expect(Option.isNone(yield* Fiber.poll(action))).toBe(true)
        yield* Fiber.interrupt(step)
        yield* settle
        expect(Option.isSome(yield* Fiber.poll(action))).toBe(true)
        expect((yield* api.stamp!).version).not.toBeNull()
        // a later step polls again (time moved on) and completes once the gate opens
        s.world.now = 100
        yield* s.newGate
        const again = yield* Effect.fork(s.step)
        yield* settle
        expect(Option.isNone(yield* Fiber.poll(again))).toBe(true)
        yield* s.open()
        yield* Fiber.join(again)
        expect((yield* api.stamp!).version).not.toBeNull()
      })
    )
  })
})
