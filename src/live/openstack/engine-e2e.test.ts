/**
 * End to end: the engine, unchanged, drives the live OpenStack layer against
 * the fake Keystone/Nova on 127.0.0.1, with a SimWorld's batch system standing
 * in for the cluster (booted VMs join it when the checker says Ready). Time
 * is the real clock sped up (engine intervals, back-off and API timeouts all
 * read Effect's Clock), so minutes of scaler time take seconds.
 *
 * The cloud misbehaves along the way: a quota refusal, a rate limit with
 * Retry-After, a VM that ends in ERROR, dropped connections, a slow answer,
 * a garbage answer and revoked tokens. The scaler must reach min, serve the
 * queued job, leak nothing and keep its view consistent. At the end a VM of
 * an Idle node is deleted behind its back: reconciliation (issue 20) finds
 * it gone, the node leaves the cluster and min boots a replacement.
 */
import { Clock, Context, Duration, Effect, Either, Exit, Scope } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { makeEngine, type Engine, type EngineLogEvent } from "../../engine/engine.ts"
import { Checker, Cloud, Cluster, Hooks, noHooks } from "../../engine/services.ts"
import { makeLiveTaskRunner } from "../../engine/tasks.ts"
import { decodeConfig, type ConfigFile } from "../../model/config.ts"
import { NodeState } from "../../model/types.ts"
import { simClusterService } from "../../sim/layers.ts"
import { kitJob } from "../../sim/kit.ts"
import { makeRng } from "../../sim/random.ts"
import { SimWorld } from "../../sim/world.ts"
import { commandChecker } from "../checkers.ts"
import { makeLiveClouds } from "../cloud.ts"
import { FakeOpenStack } from "./testing/fakeOpenStack.ts"
import { configuredPolicy } from "../../engine/policy.ts"

const SPEED = 20

/** The real clock, SPEED times faster from t0 on; sleeps shrink accordingly. */
const fastClock = (t0: number): Clock.Clock => {
  const base = Clock.make()
  const ms = () => t0 + (Date.now() - t0) * SPEED
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: ms,
    currentTimeMillis: Effect.sync(ms),
    unsafeCurrentTimeNanos: () => BigInt(Math.round(ms())) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(ms())) * 1_000_000n),
    sleep: (d: Duration.Duration) => base.sleep(Duration.millis(Duration.toMillis(d) / SPEED))
  } as Clock.Clock
}

/**
 * The engine over the live OpenStack layer of `config` (against `os`) and the
 * batch system of `world`, on the sped-up clock, its log into `log`; closed with `scope`.
 */
const startEngine = async (config: ConfigFile, os: FakeOpenStack, world: SimWorld, t0: number, log: Array<EngineLogEvent>, scope: Scope.Scope) => {
  const clock = fastClock(t0)
  const clouds = await Effect.runPromise(makeLiveClouds(config, { reverseDns: os.reverseDns, retryDelay: Duration.millis(200) }).pipe(Scope.extend(scope)))
  const ctx = Context.make(Cluster, simClusterService(world, t0 / 1000, { externalNodes: true })).pipe(
    Context.add(Cloud, clouds.service),
    Context.add(Checker, commandChecker("true {0} {1}", 5)),
    Context.add(Hooks, noHooks)
  )
  const runFast = <A, E>(e: Effect.Effect<A, E, any>) => Effect.runPromise(Effect.withClock(Effect.provide(e, ctx) as Effect.Effect<A, E>, clock))
  const tasks = await Effect.runPromise(makeLiveTaskRunner(4, () => {}).pipe(Scope.extend(scope)))
  const engine: Engine = await runFast(makeEngine({ config, tasks, policy: configuredPolicy(config), log: (e) => void log.push(e) }))
  /** The world's events up to the clock's time. */
  const syncWorld = () => {
    const t = (clock.unsafeCurrentTimeMillis() - t0) / 1000
    while (world.nextEventTime() <= t) world.processEventsAt(world.nextEventTime())
    world.now = Math.max(world.now, t)
  }
  return { engine, runFast, syncWorld }
}

let fake: FakeOpenStack
afterAll(async () => fake?.stop())

describe("engine + live OpenStack layer + simulated batch system", () => {
  it("boots to min, serves the queued job and survives the cloud's failures without leaking a VM", async () => {
    fake = await new FakeOpenStack().start()
    const decoded = decodeConfig(
      {
        "dynamic-cluster": {
          policy: "classic",
          cluster_poller_interval: 2,
          cloud_poller_interval: 2,
          auto_provision_interval: 5,
          max_launch_time: 600,
          max_down_time: 120,
          max_idle_time: 100000
        },
        cluster: { type: "simulated" },
        cloud: {
          os: {
            type: "openstack",
            quantity: { min: 2, max: 5 },
            config: {
              auth_url: fake.authUrl,
              username: "demo",
              password: "secret",
              project: "demo",
              image_uuid: fake.images[0],
              flavor: "m1.small",
              security_groups: ["default"],
              instance_name_prefix: "wn",
              network: "private",
              api_timeout: 20
            }
          }
        }
      },
      "e2e"
    )
    if (Either.isLeft(decoded)) throw decoded.left
    const config = decoded.right.config

    const t0 = Date.now()
    const events: Array<any> = []
    const world = new SimWorld(
      {
        physical: [],
        resources: [],
        // 6 cores in 2-core pieces: more than the two min nodes have, so three more are booted for it
        jobs: [kitJob({ id: "j1", submit: 60, runtime: 120, cores: 6, cpn: 2 }, 0)],
        faults: [],
        schedulerCycle: 5,
        drain: 0,
        maxTime: null
      },
      makeRng(1),
      (line) => events.push(JSON.parse(line))
    )
    const log: Array<EngineLogEvent> = []

    // The cloud's misbehaviour, in the order the scaler will meet it.
    fake.inject({ method: "POST", path: /\/servers$/, fault: { kind: "status", status: 403, body: { forbidden: { code: 403, message: "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances" } } } })
    fake.inject({ method: "POST", path: /\/servers$/, fault: { kind: "status", status: 429, headers: { "Retry-After": "40" }, body: { message: "Rate limit exceeded" } } })
    fake.inject({ method: "GET", path: /servers\/detail/, fault: { kind: "garbage", text: "<html>502 Bad Gateway</html>" } })
    fake.failBoots = 1

    const scope = Effect.runSync(Scope.make())
    try {
      const { engine, runFast, syncWorld } = await startEngine(config, fake, world, t0, log, scope)
      const snapshot = () => runFast(engine.api.snapshot)
      let stage = 0
      const deadline = Date.now() + 45_000
      let done = false
      while (Date.now() < deadline && !done) {
        syncWorld()
        await runFast(engine.step)
        const snap = await snapshot()
        const cloudNodes = snap.nodes.filter((n) => n.instance !== null)
        // More trouble once the first nodes are up.
        if (stage === 0 && cloudNodes.some((n) => n.state === NodeState.Idle)) {
          stage = 1
          fake.inject({ method: "GET", path: /servers\/[0-9a-f-]{36}$/, times: 3, fault: { kind: "drop" } })
          fake.inject({ method: "GET", path: /servers\/[0-9a-f-]{36}$/, fault: { kind: "delay", ms: 2500 } })
          fake.revokeTokens()
        }
        done =
          stage === 1 &&
          world.finished === 1 &&
          cloudNodes.filter((n) => n.state === NodeState.Idle).length >= 2 &&
          fake.live().every((s) => s.status === "ACTIVE") &&
          snap.counters.boot_failures.os >= 1
        await new Promise((r) => setTimeout(r, 40))
      }
      const snap = await snapshot()
      const cloudNodes = snap.nodes.filter((n) => n.instance !== null)
      const why = JSON.stringify({ seconds: (Date.now() - t0) / 1000, stage, finished: world.finished, nodes: cloudNodes.map((n) => [n.hostname, n.state]), live: fake.live().map((s) => [s.name, s.status]), counters: snap.counters, log: log.filter((l) => l.level !== "debug").slice(-15).map((l) => l.msg) }, null, 1)
      expect(done, why).toBe(true)
      console.log(`e2e: done after ${(Date.now() - t0) / 1000}s real (${((Date.now() - t0) * SPEED) / 1000}s scaler time), ${snap.counters.cycles} engine cycles`)

      // min reached and the job served on cloud nodes that joined the simulated batch system
      expect(cloudNodes.filter((n) => n.state === NodeState.Idle || n.state === NodeState.Busy).length).toBeGreaterThanOrEqual(2)
      const joined = events.filter((e) => e.ev === "join" && e.external === true).map((e) => e.host)
      expect(joined.length).toBeGreaterThanOrEqual(4)
      expect(joined.every((h: string) => /^wn-[a-z0-9]{8}\.cloud\.test$/.test(h))).toBe(true)
      const start = events.find((e) => e.ev === "start" && e.job === "j1")
      expect(start.hosts.every((h: string) => joined.includes(h))).toBe(true)
      expect(events.some((e) => e.ev === "finish" && e.job === "j1")).toBe(true)

      // never above max, nothing leaked: every server with our prefix is a node the engine tracks
      expect(fake.live().length).toBeLessThanOrEqual(5)
      const tracked = new Set(cloudNodes.map((n) => n.instance!.uuid))
      for (const s of fake.live()) expect(tracked.has(s.id), `${s.name} (${s.status}) is not tracked`).toBe(true)

      // the failures were met and handled as the engine should
      expect(snap.counters.boot_failures.os).toBeGreaterThanOrEqual(1)
      expect(log.some((l) => /boot in os failed \(quota\)/.test(l.msg))).toBe(true)
      // a throttle is not a failed boot (issue 20): no back-off grows, the client slows down
      expect(log.some((l) => /^boot in os throttled by the cloud: 429 .*not counted as a failed boot$/.test(l.msg))).toBe(true)
      expect(log.some((l) => /boot in os failed \(ratelimit\)/.test(l.msg))).toBe(false)
      expect(log.some((l) => /its instance is in Error/.test(l.msg))).toBe(true)
      const servers = fake.requests.filter((r) => r.method === "POST" && r.path === "/compute/v2.1/servers")
      expect(servers.length).toBeGreaterThanOrEqual(8) // 2 refused + 1 that went to ERROR + 5 kept, at least
      expect(fake.requests.filter((r) => r.path.endsWith("/auth/tokens")).length).toBeGreaterThanOrEqual(2)
      expect(fake.requests.some((r) => r.method === "DELETE")).toBe(true)

      // A VM deleted behind the scaler's back while its node is Idle (issue 20, finding 3):
      // reconciliation finds it gone, the node leaves the cluster and is forgotten, min boots anew.
      const victim = cloudNodes.find((n) => n.state === NodeState.Idle)!
      fake.servers.delete(victim.instance!.uuid!)
      let gone = false
      const until = Date.now() + 20_000
      while (Date.now() < until && !gone) {
        syncWorld()
        await runFast(engine.step)
        const now = (await snapshot()).nodes
        gone =
          log.some((l) => l.msg === `forgetting ${victim.hostname}: its instance is gone`) &&
          !now.some((n) => n.hostname === victim.hostname) &&
          now.filter((n) => n.instance !== null && (n.state === NodeState.Idle || n.state === NodeState.Busy)).length >= 2
        await new Promise((r) => setTimeout(r, 40))
      }
      expect(gone, JSON.stringify(log.filter((l) => l.level !== "debug").slice(-15).map((l) => l.msg))).toBe(true)
      expect(log.some((l) => l.msg === `${victim.hostname}: its instance is not in the listing of os: asking the cloud about it`)).toBe(true)
      expect(events.some((e) => e.ev === "leave" && e.host === victim.hostname)).toBe(true)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 60_000)

  it("a VM that Nova's scheduler could place nowhere (ERROR, \"No valid host\") is a capacity failure: the job falls through to the next resource at once (issue 20)", async () => {
    const os = await new FakeOpenStack().start()
    const resource = (priority: number, prefix: string) => ({
      type: "openstack",
      priority,
      quantity: { min: 0, max: 2 },
      config: { auth_url: os.authUrl, username: "demo", password: "secret", project: "demo", image_uuid: os.images[0], flavor: "m1.small", instance_name_prefix: prefix, network: "private", api_timeout: 20 }
    })
    const decoded = decodeConfig(
      {
        // a provisioning pass only every 10 minutes: the fall-through must not wait for the next one
        "dynamic-cluster": { policy: "classic", cluster_poller_interval: 2, cloud_poller_interval: 2, auto_provision_interval: 600, max_idle_time: 100000 },
        cluster: { type: "simulated" },
        cloud: { osa: resource(1, "wa"), osb: resource(2, "wb") }
      },
      "e2e"
    )
    if (Either.isLeft(decoded)) throw decoded.left
    const config = decoded.right.config
    const t0 = Date.now()
    const world = new SimWorld(
      { physical: [], resources: [], jobs: [kitJob({ id: "j1", submit: 0, runtime: 60, cores: 2, cpn: 2 }, 0)], faults: [], schedulerCycle: 5, drain: 0, maxTime: null },
      makeRng(1),
      () => {}
    )
    const log: Array<EngineLogEvent> = []
    os.failBoots = 1 // the first boot ends in ERROR: "No valid host was found"
    // the job is queued before the engine's first provisioning pass
    world.processEventsAt(world.nextEventTime())
    const scope = Effect.runSync(Scope.make())
    try {
      const { engine, runFast, syncWorld } = await startEngine(config, os, world, t0, log, scope)
      const deadline = Date.now() + 25_000
      let started = false
      while (Date.now() < deadline && !started) {
        syncWorld()
        await runFast(engine.step)
        started = world.started >= 1
        await new Promise((r) => setTimeout(r, 40))
      }
      const lines = log.filter((l) => l.level !== "debug").map((l) => `+${Math.round(l.t - t0 / 1000)}s ${l.msg}`)
      expect(started, JSON.stringify(lines, null, 1)).toBe(true)
      const failed = log.find((l) => /^boot in osa failed \(capacity\): wa-[a-z0-9]{8}: No valid host was found\. .*; backing off until \+30s; the next provisioning pass looks at the other resources at once$/.test(l.msg))
      expect(failed, JSON.stringify(lines, null, 1)).toBeDefined()
      expect(log.some((l) => /^wa-[a-z0-9]{8} → Deleting: its instance is in Error \(capacity: No valid host was found\./.test(l.msg))).toBe(true)
      const bootedB = log.find((l) => /^booted wb-[a-z0-9]{8} in osb/.test(l.msg))
      expect(bootedB, JSON.stringify(lines, null, 1)).toBeDefined()
      // at once: well before the next provisioning pass (600 s), in scaler time
      expect(bootedB!.t - failed!.t).toBeLessThan(60)
      const snap = await runFast(engine.api.snapshot)
      expect(snap.counters.boot_failures.osa).toBe(1)
      // osa was booted once: its failed VM is destroyed, not booted again while it backs off
      expect(os.requests.filter((r) => r.method === "POST" && r.path === "/compute/v2.1/servers").length).toBe(2)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await os.stop()
    }
  }, 60_000)
})
