/**
 * The Checker contract against no checker (layerNoChecker), the simulated
 * checker (layerSimChecker over a SimWorld, virtual time) and the live port
 * and command checkers built from configuration (makeChecker), against a real
 * TCP listener and real commands on 127.0.0.1. No network.
 */
import { Effect, Layer } from "effect"
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { layerNoChecker } from "../../engine/services.ts"
import type { CheckerConfig } from "../../model/config.ts"
import { emptyInstance, InstanceState, type Instance } from "../../model/types.ts"
import { kitResource } from "../../sim/kit.ts"
import { layerSimChecker, simCloudService } from "../../sim/layers.ts"
import { makeRng } from "../../sim/random.ts"
import { SimWorld } from "../../sim/world.ts"
import { layerChecker } from "../checkers.ts"
import { checkerContract, type CheckerHarness } from "./checker-contract.ts"

const scratch = mkdtempSync(join(tmpdir(), "dyncluster-checker-contract-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const vm = (over: Partial<Instance>): Instance => ({
  ...emptyInstance("os", 0),
  uuid: "u-1",
  instance_name: "wn-1",
  state: InstanceState.Active,
  ip: "127.0.0.1",
  dns_name: "wn-1.example",
  ...over
})

/** The live layer of a configuration; a setup error (which these configurations must not have) fails the test. */
const live = (cfg: CheckerConfig) => Layer.orDie(layerChecker(cfg))

// ---------------------------------------------------------------- no checker

checkerContract("no checker (layerNoChecker)", async () => ({
  layer: layerNoChecker,
  ready: async () => vm({}),
  notReady: { none: "without a checker, Active counts as Ready" },
  hanging: { none: "nothing to wait for" },
  close: async () => {}
}))

// ---------------------------------------------------------------- simulated

checkerContract("simulated (layerSimChecker)", async () => {
  const world = new SimWorld(
    {
      physical: [],
      resources: [kitResource({ name: "sim", max: 5, bootTime: { type: "constant", value: 60 }, configTime: { type: "constant", value: 120 } })],
      jobs: [],
      faults: [],
      schedulerCycle: 10,
      drain: 0,
      maxTime: null
    },
    makeRng(3),
    () => {}
  )
  const cloud = simCloudService(world, 1_700_000_000)
  const advance = (by: number) => {
    const until = world.now + by
    while (world.nextEventTime() <= until) world.processEventsAt(world.nextEventTime())
    world.now = until
  }
  const boot = () => Effect.runPromise(cloud.boot("sim"))
  return {
    layer: layerSimChecker(world),
    ready: async () => {
      const i = await boot()
      advance(600)
      return Effect.runPromise(cloud.refresh(i))
    },
    // booted and Active, but its configuration (120 s) has not finished
    notReady: async () => {
      const i = await boot()
      advance(90)
      const r = await Effect.runPromise(cloud.refresh(i))
      if (r.state !== InstanceState.Active) throw new Error(`sim: expected Active after boot, got ${r.state}`)
      return r
    },
    hanging: { none: "virtual time: a simulated check is an instant lookup" },
    close: async () => {}
  }
})

// ---------------------------------------------------------------- live: port

checkerContract("live port checker (real TCP listener on 127.0.0.1)", async () => {
  const server = createServer((s) => s.destroy())
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok))
  const port = (server.address() as { port: number }).port
  return {
    layer: live({ port: { number: port, timeout: 2 } }),
    ready: async () => vm({ ip: "127.0.0.1" }),
    // another loopback address: nothing listens there on that port (connection refused)
    notReady: async () => vm({ ip: "127.0.0.2" }),
    hanging: { none: "a connection that hangs needs a black-holed address, i.e. a network" },
    close: () => new Promise<void>((ok) => server.close(() => ok()))
  }
})

// ---------------------------------------------------------------- live: command

checkerContract("live command checker (real script)", async () => {
  const script = join(scratch, `ready-${Math.random().toString(36).slice(2)}.sh`)
  // $1 host name, $2 IP, $3 instance name: ready-* is done, hang-* never answers, anything else is not done
  writeFileSync(script, `#!/bin/sh\ncase "$3" in ready-*) exit 0;; hang-*) exec sleep 30;; *) exit 1;; esac\n`)
  chmodSync(script, 0o755)
  return {
    layer: live({ command: { command: `${script} {0} {1} {2}`, timeout: 0.5 } }),
    ready: async () => vm({ instance_name: "ready-1", dns_name: "ready-1.example" }),
    notReady: async () => vm({ instance_name: "booting-1", dns_name: "booting-1.example" }),
    hanging: { instance: async () => vm({ instance_name: "hang-1", dns_name: "hang-1.example" }), withinMs: 5_000 },
    close: async () => {}
  }
})
