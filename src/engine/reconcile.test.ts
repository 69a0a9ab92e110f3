/**
 * Reconciliation's cadence (reconcile.ts, docs/clouds.md "Reconciliation"):
 * each resource's instances are listed every `reconcile_every_polls` cloud
 * polls, counted in the simulated world by the list calls the engine makes.
 * And the spot-interruption counter (rules/spot.ts): one per interrupted
 * node, whichever decisions the interruption leads to. (A spot node already
 * Holding or Held when the notice comes is not polled, so its notice is not
 * seen: it is cleaned up once its instance is gone, uncounted; docs/clouds.md.)
 */
import { Clock, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
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
  const count = (k: { scenario: ConstructorParameters<typeof SimDriver>[0] }) => {
    const steps: Array<StepDecisions> = []
    const d = new SimDriver(k.scenario, { onDecisions: (s) => steps.push(s) }, () => {})
    while (d.advance()) {
      /* to the end */
    }
    const snap = Either.getOrThrow(d.runEither(d.engine.api.snapshot))
    const decided = steps.flatMap((s) => s.decisions).filter((x) => x.reason === "spot_interruption")
    const hosts = new Set(decided.map((x) => ("host" in x ? x.host : "")))
    return { counted: snap.counters.spot_interruptions.spot ?? 0, hosts, decided, reclaimed: d.world.reclaimed }
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
})
