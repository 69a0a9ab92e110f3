/**
 * Reconciliation's cadence (reconcile.ts, docs/clouds.md "Reconciliation"):
 * each resource's instances are listed every `reconcile_every_polls` cloud
 * polls, counted in the simulated world by the list calls the engine makes.
 * And the spot-interruption counter (rules/spot.ts): one per interrupted
 * node, whichever decisions the interruption leads to, also when the node
 * was already held (an operator's hold) when the notice came, or was
 * un-held and held again for the same interruption.
 */
import { Clock, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import type { OperatorAction } from "../sim/arbitrary.ts"
import { ActionReplay } from "../sim/harness.ts"
import { kitScenario, type KitScenario } from "../sim/kit.ts"
import { runScenario, SimDriver } from "../sim/run.ts"
import { loadScenarioFile } from "../sim/scenario.ts"
import type { StepDecisions } from "./decisions.ts"
import type { CloudService } from "./services.ts"

/** When the engine listed resource `os` (seconds), over a 1200 s run with a 10 s cloud poll. */
const listings = (settings: Record<string, unknown>): Array<number> => {
  const at: Array<number> = []
  const recording = (sim: CloudService): CloudService => ({
    ...sim,
    list: (r) => Effect.zipRight(Effect.flatMap(Clock.currentTimeMillis, (ms) => Effect.sync(() => void (r === "os" && at.push(ms / 1000)))), sim.list(r))
  })
  runScenario(
    kitScenario({
      resources: [{ name: "os", min: 1, max: 2 }],
      jobs: [{ submit: 0, runtime: 300, cores: 1 }],
      settings: { policy: "classic", cloud_poller_interval: 10, cluster_poller_interval: 10, ...settings },
      maxTime: 1200
    }),
    { cloud: recording }
  )
  return at
}

const gaps = (at: ReadonlyArray<number>) => at.slice(2).map((t, i) => t - at[i + 1])

describe("reconciliation cadence: dynamic-cluster.reconcile_every_polls", () => {
  it("lists each resource every 6 cloud polls by default, every N when set", () => {
    const dflt = listings({})
    // the first listing is start-up recovery's; from then on one every 6 × 10 s (a step may come a little late)
    expect(dflt.length).toBeGreaterThan(10)
    for (const g of gaps(dflt)) expect(g).toBeGreaterThanOrEqual(60), expect(g).toBeLessThanOrEqual(70)
    const two = listings({ reconcile_every_polls: 2 })
    for (const g of gaps(two)) expect(g).toBeGreaterThanOrEqual(20), expect(g).toBeLessThanOrEqual(30)
    expect(two.length).toBeGreaterThan(2 * dflt.length)
  })
})

describe("spot interruptions are counted once per interrupted node", () => {
  /** `outside`: something done to the simulated batch system behind the scaler's back, once, at the first step at or after `at`. */
  const count = (k: {
    scenario: ConstructorParameters<typeof SimDriver>[0]
    actions?: ReadonlyArray<OperatorAction>
    outside?: { at: number; act: (d: SimDriver) => void }
  }) => {
    const steps: Array<StepDecisions> = []
    const d = new SimDriver(k.scenario, { onDecisions: (s) => steps.push(s) }, () => {})
    const replay = new ActionReplay(d, k.actions ?? [], () => {})
    let outside = k.outside
    while (replay.advance()) {
      if (outside !== undefined && d.world.now >= outside.at) outside.act(d), (outside = undefined)
    }
    const snap = Either.getOrThrow(d.runEither(d.engine.api.snapshot))
    const decided = steps.flatMap((s) => s.decisions).filter((x) => x.reason === "spot_interruption")
    const hosts = new Set(decided.map((x) => ("host" in x ? x.host : "")))
    return { counted: snap.counters.spot_interruptions.spot ?? 0, hosts, decided, reclaimed: d.world.reclaimed, nodes: snap.nodes, accepted: replay.accepted }
  }

  it("scenarios/spot.yaml: the counter is the number of distinct nodes with a spot_interruption decision, and the cloud's reclaims", () => {
    const s = Either.getOrThrow(loadScenarioFile(new URL("../../scenarios/spot.yaml", import.meta.url).pathname))
    const r = count({ scenario: s })
    expect(r.hosts.size).toBeGreaterThan(0)
    expect(r.counted).toBe(r.hosts.size)
    expect(r.counted).toBe(r.reclaimed)
  })

  it("a node held and removed for its interruption has two decisions and is counted once", () => {
    const r = count({
      scenario: kitScenario({
        resources: [{ name: "spot", min: 0, max: 2, spot: true }],
        jobs: [{ submit: 0, runtime: 100, cores: 1 }],
        settings: { policy: "classic", max_idle_time: 600, cloud_poller_interval: 10, cluster_poller_interval: 10 },
        faults: [{ kind: "spot_interruption", at: 400, resource: "spot", count: 1, warning: 120, code: "instance-terminated-by-price", resubmit: false }],
        maxTime: 1000
      })
    })
    expect(r.decided.map((x) => x.kind)).toEqual(["hold", "remove"])
    expect(r.counted).toBe(1)
  })

  /** One spot node (min 1, max 1: an operator's hold does not remove it, and no other node is booted), its notice at 400 s. */
  const oneSpot = (actions: ReadonlyArray<OperatorAction>, runtime = 100, outside?: { at: number; act: (d: SimDriver) => void }) =>
    count({
      ...(outside !== undefined ? { outside } : {}),
      scenario: kitScenario({
        resources: [{ name: "spot", min: 1, max: 1, spot: true }],
        jobs: [{ submit: 0, runtime, cores: 1 }],
        settings: { policy: "classic", max_idle_time: 3000, cloud_poller_interval: 10, cluster_poller_interval: 10 },
        faults: [{ kind: "spot_interruption", at: 400, resource: "spot", count: 1, warning: 120, code: "instance-terminated-by-price", resubmit: false }],
        maxTime: 1000
      }),
      actions
    })

  it("a node an operator held before the notice: the notice is seen, the node removed for it and counted once", () => {
    const r = oneSpot([{ at: 300, op: "hold", node: "cloud", index: 0 }])
    expect(r.accepted).toBe(1)
    const first = r.decided[0]
    expect(first?.kind).toBe("remove")
    expect(r.decided.filter((x) => x.kind !== "remove")).toEqual([])
    expect(r.hosts.size).toBe(1)
    expect(r.counted).toBe(1)
    // removed and its VM terminated before the cloud took it back; gone from the scaler's view
    const host = [...r.hosts][0]
    expect(r.nodes.some((n) => n.hostname === host)).toBe(false)
  })

  it("a busy node an operator held before the notice (Holding: its job runs on): the interruption is recorded once", () => {
    const r = oneSpot([{ at: 300, op: "hold", node: "cloud", index: 0 }], 800)
    expect(r.accepted).toBe(1)
    expect(r.reclaimed).toBe(1)
    expect(r.decided.map((x) => x.kind)).toEqual(["hold"])
    expect(r.counted).toBe(1)
    // the VM went with its job: the node left the cluster
    expect(r.nodes.some((n) => r.hosts.has(n.hostname))).toBe(false)
  })

  it("a node held for its interruption, un-held behind the scaler's back and held again for the same one is counted once", () => {
    // the notice at 400 s holds the busy node (its job runs on); at 440 s someone clears the hold in the batch system; the scaler holds it again
    const r = oneSpot([], 800, { at: 440, act: (d) => void d.world.unholdNode("spot-00001") })
    expect(r.decided.filter((x) => x.kind === "hold").length).toBeGreaterThanOrEqual(2)
    expect(r.hosts).toEqual(new Set(["spot-00001"]))
    expect(r.counted).toBe(1)
  })
})
