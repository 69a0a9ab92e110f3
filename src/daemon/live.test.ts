/**
 * The live mode's machinery, with the simulated world standing in for a
 * batch system and a cloud: live layers plug in by type name through the
 * registry, the live loop sleeps until the engine's next wake-up or a task
 * result (virtual time through TestClock), and shutdown lets running tasks
 * finish (or abandons them after the grace period) and drops queued ones.
 */
import { it as effectIt } from "@effect/vitest"
import { Context, Effect, Either, Exit, Fiber, Layer, Scope, TestClock } from "effect"
import { describe, expect, it } from "vitest"
import { Cloud, Cluster, type CloudService } from "../engine/services.ts"
import { makeCycleHistogram } from "../http/metrics.ts"
import { decodeConfig, type ConfigFile } from "../model/config.ts"
import { NodeState } from "../model/types.ts"
import { kitScenario } from "../sim/kit.ts"
import { simCloudService, simClusterService } from "../sim/layers.ts"
import { makeRng } from "../sim/random.ts"
import { SimWorld } from "../sim/world.ts"
import type { ShutdownNotes } from "./daemon.ts"
import { layerClouds } from "../live/cloud.ts"
import { makeDecisionLog } from "../http/decisions.ts"
import { makeLiveRunner, missingLayers } from "./live.ts"
import { letEventLoopIn } from "./loop.ts"
import { makeLogSink } from "./log.ts"
import type { LiveRegistry } from "./registry.ts"
import { liveRegistry } from "./registry.ts"

const configOf = (raw: Record<string, unknown>): ConfigFile => {
  const r = decodeConfig(raw)
  if (Either.isLeft(r)) throw r.left
  return r.right.config
}

const liveConfig = (dc: Record<string, unknown> = {}) =>
  configOf({
    "dynamic-cluster": { cluster_poller_interval: 10, cloud_poller_interval: 20, auto_provision_interval: 60, ...dc },
    cluster: { type: "torque" },
    cloud: { os: { type: "openstack", quantity: { min: 1, max: 2 }, config: { instance_name_prefix: "os", password: "pw-SECRET-9" } } }
  })

const worldOf = () => new SimWorld(kitScenario({ resources: [{ name: "os", max: 2 }] }).world, makeRng(1), () => {})

/** "torque" and "openstack" served by the simulated world; boots can be made slow (real milliseconds). */
const simBacked = (world: SimWorld, bootDelayMs = 0): LiveRegistry => {
  const cloud = simCloudService(world, 0)
  const slow: CloudService = { ...cloud, boot: (r) => Effect.zipRight(Effect.promise(() => new Promise((ok) => setTimeout(ok, bootDelayMs))), cloud.boot(r)) }
  return {
    cluster: { torque: () => Layer.succeed(Cluster, simClusterService(world, 0)) },
    cloud: { openstack: () => Layer.succeed(Cloud, bootDelayMs > 0 ? slow : cloud) },
    checker: {}
  }
}

const quietLog = () => {
  const lines: Array<any> = []
  return { lines, log: makeLogSink({ level: "debug", format: "json", out: (l) => lines.push(JSON.parse(l)) }) }
}

describe("live layers by type name", () => {
  it("names every layer that is not available yet", () => {
    const c = configOf({
      cluster: { type: "sge" },
      cloud: {
        a: { type: "aws", quantity: { max: 1 } },
        b: { type: "aws", quantity: { max: 1 } },
        c: { type: "openstack", quantity: { max: 1 } }
      },
      "dynamic-cluster": { "config-checker": { port: { number: 22 } } }
    })
    expect(missingLayers(c, { cluster: {}, cloud: {}, checker: {} })).toEqual([
      "cluster type sge not available yet",
      "cloud type aws not available yet (resource a, b)",
      "cloud type openstack not available yet (resource c)",
      "config checker port not available yet"
    ])
    expect(missingLayers(configOf({ cluster: { type: "simulated" } }), liveRegistry)[0]).toMatch(/cluster type simulated needs cluster\.scenario under --config.*`dyncluster run --sim SCENARIO`/)
    expect(missingLayers(configOf({ cluster: { type: "simulated", scenario: "batch.yaml" } }), liveRegistry)).toEqual([])
  })

  it("makeLiveRunner refuses to start without the layers, with every reason", async () => {
    const { log } = quietLog()
    const exit = await Effect.runPromiseExit(
      Effect.scoped(makeLiveRunner({ config: liveConfig(), log, histogram: makeCycleHistogram(), graceSeconds: 1, notes: [], registry: { cluster: {}, cloud: {}, checker: {} } }))
    )
    expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toMatch(/cluster type torque not available yet.*cloud type openstack not available yet \(resource os\)/s)
  })

  it("refuses a hook template that cannot run, naming its key, before any layer starts", async () => {
    const { log } = quietLog()
    const world = worldOf()
    const exit = await Effect.runPromiseExit(
      Effect.scoped(
        makeLiveRunner({
          config: liveConfig({ post_vm_destroy_command: "/usr/local/bin/cleanup {0} 'unclosed" }),
          log,
          histogram: makeCycleHistogram(),
          graceSeconds: 1,
          notes: [],
          registry: simBacked(world)
        })
      )
    )
    expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toMatch(/dynamic-cluster\.post_vm_destroy_command: /)
  })

  it("the engine's Cloud sends each call to its resource's service", async () => {
    const world = worldOf()
    const cloud = await Effect.runPromise(Effect.scoped(Effect.map(Layer.build(layerClouds([["os", Layer.succeed(Cloud, simCloudService(world, 0))]])), Context.get(Cloud))))
    expect(await Effect.runPromise(cloud.coresPerNode("os"))).toBe(4)
    const e = await Effect.runPromise(Effect.flip(cloud.boot("nope")))
    expect(e).toMatchObject({ _tag: "CloudError", kind: "notfound", resource: "nope" })
  })
})

describe("live loop", () => {
  const cycles = (api: { snapshot: Effect.Effect<{ counters: { cycles: number } }> }) => Effect.map(api.snapshot, (s) => s.counters.cycles)
  /** Let forked fibers run until they block on the (test) clock (the engine's step pauses on the event loop: letEventLoopIn). */
  const settle = Effect.repeatN(Effect.zipRight(Effect.yieldNow(), letEventLoopIn), 50)

  effectIt.scoped("steps, sleeps until nextWake, and wakes early when a task result arrives", () =>
    Effect.gen(function* () {
      const world = worldOf()
      const { log } = quietLog()
      const histogram = makeCycleHistogram()
      const runner = yield* makeLiveRunner({ config: liveConfig(), log, histogram, graceSeconds: 1, notes: [], registry: simBacked(world) })
      yield* Effect.forkScoped(runner.loop)
      yield* settle
      // t=0: the first step boots a node for min 1; the boot's result wakes the loop, which steps again after the 50 ms minimum gap.
      expect(yield* cycles(runner.api)).toBe(1)
      yield* TestClock.adjust("50 millis")
      yield* settle
      expect(yield* cycles(runner.api)).toBe(2)
      const s = yield* runner.api.snapshot
      expect(s.nodes.map((n) => n.state)).toEqual([NodeState.Starting])
      // Nothing else happens until the cluster poll at t=10 s: no step in between.
      yield* TestClock.adjust("9900 millis")
      yield* settle
      expect(yield* cycles(runner.api)).toBe(2)
      yield* TestClock.adjust("100 millis")
      yield* settle
      expect(yield* cycles(runner.api)).toBe(3)
      expect(histogram.state().count).toBe(3)
      // An operator action wakes the loop at once (after the minimum gap).
      yield* runner.api.setAuto(false)
      yield* TestClock.adjust("50 millis")
      yield* settle
      expect(yield* cycles(runner.api)).toBe(4)
    })
  )
})

describe("live GET /server/status", () => {
  effectIt.scoped("the light status path (no snapshot) says what the snapshot's status says, clouds included", () =>
    Effect.gen(function* () {
      const { log } = quietLog()
      const runner = yield* makeLiveRunner({ config: liveConfig(), log, histogram: makeCycleHistogram(), graceSeconds: 1, notes: [], registry: simBacked(worldOf()) })
      expect(runner.api.status).toBeDefined()
      const light = yield* runner.api.status!
      expect(light.clouds).toBeDefined()
      expect(light).toEqual((yield* runner.api.snapshot).status)
    })
  )
})

describe("live decisions", () => {
  effectIt.scoped("run --config feeds the daemon's decision log: the first step's boot for min 1 is a provision with reason below_min", () =>
    Effect.gen(function* () {
      const decisions = makeDecisionLog()
      const runner = yield* makeLiveRunner({
        config: liveConfig(),
        log: quietLog().log,
        histogram: makeCycleHistogram(),
        graceSeconds: 1,
        notes: [],
        registry: simBacked(worldOf()),
        onDecisions: decisions.record
      })
      yield* Effect.forkScoped(runner.loop)
      yield* Effect.repeatN(Effect.zipRight(Effect.yieldNow(), letEventLoopIn), 50)
      expect(decisions.answer().decisions).toEqual([
        expect.objectContaining({ kind: "provision", resource: "os", count: 1, reason: "below_min", dry_run: false })
      ])
    })
  )
})

describe("live shutdown", () => {
  const runThenStop = async (bootDelayMs: number, graceSeconds: number) => {
    const world = worldOf()
    const { log, lines } = quietLog()
    const notes: ShutdownNotes = []
    const scope = Effect.runSync(Scope.make())
    const runner = await Effect.runPromise(
      makeLiveRunner({ config: liveConfig({ worker_thread_number: 1 }), log, histogram: makeCycleHistogram(), graceSeconds, notes, registry: simBacked(world, bootDelayMs) }).pipe(
        Scope.extend(scope)
      )
    )
    const fiber = Effect.runFork(runner.loop)
    // two boots queued behind one worker: one runs, one waits
    await Effect.runPromise(runner.api.launch("os", 1))
    await new Promise((r) => setTimeout(r, 100))
    const q = (await Effect.runPromise(runner.api.snapshot)).queues
    expect(q.running).toBe(1)
    expect(q.waiting).toBe(1)
    const t0 = Date.now()
    await Effect.runPromise(Fiber.interrupt(fiber))
    await Effect.runPromise(Scope.close(scope, Exit.void))
    return { notes, world, seconds: (Date.now() - t0) / 1000, lines }
  }

  it("running tasks get to finish; queued ones are dropped", async () => {
    const { notes, world, seconds, lines } = await runThenStop(500, 10)
    expect(notes).toEqual([expect.stringMatching(/^1 running cloud task\(s\) finished, 0 abandoned after 10s, 1 queued task\(s\) dropped/)])
    expect(world.stats.get("os")!.boots).toBe(1) // the running boot completed, the queued one never started
    expect(seconds).toBeLessThan(5)
    expect(JSON.stringify(lines)).not.toContain("pw-SECRET-9")
  })

  it("a task still running after the grace period is abandoned", async () => {
    const { notes, world, seconds } = await runThenStop(5_000, 0.3)
    expect(notes).toEqual([expect.stringMatching(/^0 running cloud task\(s\) finished, 1 abandoned after 0.3s, 1 queued task\(s\) dropped/)])
    expect(world.stats.get("os")!.boots).toBe(0)
    expect(seconds).toBeLessThan(3)
  })
})
