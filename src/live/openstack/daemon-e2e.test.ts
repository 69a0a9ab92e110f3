/**
 * The daemon's live mode (`dyncluster run --config`, src/daemon/live.ts) with
 * the registered OpenStack layer and port checker against the fake
 * Keystone/Nova on 127.0.0.1, and a SimWorld batch system standing in for
 * the cluster type: real clock, real live loop, real task runner.
 */
import { Effect, Either, Exit, Fiber, Layer, Scope } from "effect"
import { createServer, type Server } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeLiveRunner } from "../../daemon/live.ts"
import { makeLogSink } from "../../daemon/log.ts"
import { liveRegistry } from "../../daemon/registry.ts"
import { Cluster } from "../../engine/services.ts"
import { makeCycleHistogram, renderMetrics } from "../../http/metrics.ts"
import { decodeConfig } from "../../model/config.ts"
import { NodeState } from "../../model/types.ts"
import { simClusterService } from "../../sim/layers.ts"
import { makeRng } from "../../sim/random.ts"
import { SimWorld } from "../../sim/world.ts"
import { FakeOpenStack } from "./testing/fakeOpenStack.ts"

let fake: FakeOpenStack
const sshd: Array<Server> = []
let port = 0
// The "VMs" live on loopback addresses 127.0.0.11..13 (their Nova addresses are rewritten below).
const ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
beforeAll(async () => {
  fake = await new FakeOpenStack().start()
  for (const a of ADDRS) {
    const s = createServer((c) => c.end())
    await new Promise<void>((r) => s.listen(port, a, () => r()))
    port = (s.address() as { port: number }).port
    sshd.push(s)
  }
})
afterAll(async () => {
  await fake.stop()
  for (const s of sshd) await new Promise<void>((r) => s.close(() => r()))
})

describe("dyncluster run --config with the OpenStack layer (daemon live mode)", () => {
  it("reaches min through the registered layers; no secret in the log", async () => {
    const decoded = decodeConfig({
      "dynamic-cluster": {
        policy: "classic",
        cluster_poller_interval: 0.3,
        cloud_poller_interval: 0.3,
        auto_provision_interval: 1,
        "config-checker": { port: { number: port, timeout: 2 } }
      },
      cluster: { type: "torque" },
      cloud: {
        os: {
          type: "openstack",
          quantity: { min: 2, max: 3 },
          config: {
            auth_url: fake.authUrl,
            username: "demo",
            password: "secret",
            project: "demo",
            image_uuid: fake.images[0],
            flavor: "m1.medium",
            instance_name_prefix: "wn",
            api_timeout: 5,
            dns_timeout: 0.2,
            colour: "blue"
          }
        }
      }
    })
    if (Either.isLeft(decoded)) throw decoded.left
    const config = decoded.right.config
    const world = new SimWorld({ physical: [], resources: [], jobs: [], faults: [], schedulerCycle: 5, drain: 0, maxTime: null }, makeRng(1), () => {})
    const lines: Array<any> = []
    const log = makeLogSink({ level: "debug", format: "json", out: (l) => lines.push(JSON.parse(l)) })
    // The port checker connects to the VM's address: point the addresses at the local listeners.
    const origAdvance = fake.advance.bind(fake)
    let next = 0
    fake.advance = (s) => {
      const before = s.ip
      origAdvance(s)
      if (s.ip !== null && before === null) s.ip = ADDRS[next++ % ADDRS.length]
    }
    const registry = { ...liveRegistry, cluster: { torque: () => Layer.succeed(Cluster, simClusterService(world, 0, { externalNodes: true })) } }
    const scope = Effect.runSync(Scope.make())
    try {
      const runner = await Effect.runPromise(
        makeLiveRunner({ config, log, histogram: makeCycleHistogram(), graceSeconds: 1, notes: [], registry }).pipe(Scope.extend(scope))
      )
      const fiber = Effect.runFork(runner.loop)
      const deadline = Date.now() + 40_000
      let idle = 0
      while (Date.now() < deadline) {
        const snap = await Effect.runPromise(runner.api.snapshot)
        idle = snap.nodes.filter((n) => n.instance !== null && n.state === NodeState.Idle).length
        if (idle >= 2) break
        await new Promise((r) => setTimeout(r, 100))
      }
      await Effect.runPromise(Fiber.interrupt(fiber))
      expect(idle, JSON.stringify(lines.slice(-10))).toBe(2)
      // Live snapshots (what /metrics renders) carry the cloud's auth status and the back-off.
      const metrics = renderMetrics(await Effect.runPromise(runner.api.snapshot))
      expect(metrics).toContain('dyncluster_cloud_auth_ok{resource="os"} 1')
      expect(metrics).toContain('dyncluster_resource_consecutive_boot_failures{resource="os"} 0')
      expect(fake.live().map((s) => s.status)).toEqual(["ACTIVE", "ACTIVE"])
      expect([...world.nodes.keys()].sort()).toEqual(fake.live().map((s) => s.name).sort())
      expect([...world.nodes.values()].every((n) => n.cores === 4)).toBe(true)
      const text = JSON.stringify(lines)
      expect(text).toContain("cloud.os.config.colour: unknown key, ignored")
      expect(text).not.toContain('"secret"')
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 60_000)
})
