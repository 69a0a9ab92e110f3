/**
 * The billing model (src/model/billing.ts, docs/clouds.md "Billing"): the
 * billed time of one instance, and the summary's `cost` of a simulated run
 * under each model, recomputed from the event log alone. Without a billing
 * setting the cost is price × node-hours exactly as before (the golden test
 * and the summary tests pin that).
 */
import { describe, expect, it } from "vitest"
import { billedSeconds, paidAhead, retireAt, type Billing } from "../model/billing.ts"
import { kitScenario, type KitResource } from "./kit.ts"
import { runScenario } from "./run.ts"
import { summaryFromEvents } from "./summary.ts"

describe("billedSeconds", () => {
  it("bills started units with a minimum; without a model, the time itself", () => {
    expect(billedSeconds(12.3, null)).toBe(12.3)
    expect(billedSeconds(12.3, { per: "second" })).toBe(13)
    expect(billedSeconds(12.3, { per: "second", minimum: 60 })).toBe(60)
    expect(billedSeconds(61.2, { per: "second", minimum: 60 })).toBe(62)
    expect(billedSeconds(61, { per: "minute" })).toBe(120)
    expect(billedSeconds(1, { per: "hour" })).toBe(3600)
    expect(billedSeconds(3600, { per: "hour" })).toBe(3600)
    expect(billedSeconds(3601, { per: "hour" })).toBe(7200)
  })
  it("retireAt: under hourly billing an idle node goes before an hour it was idle into, or stays to the end of the hour it is in", () => {
    // no billing, or per second: the idle rules' time (a minimum shorter than the margin changes nothing)
    expect(retireAt(0, 900, 1200, 120, null)).toBe(1200)
    expect(retireAt(0, 900, 1200, 120, { per: "second", minimum: 60 })).toBe(1200)
    expect(retireAt(0, 0, 30, 120, { per: "second", minimum: 60 })).toBe(30)
    expect(retireAt(0, 900, 1210, 120, { per: "minute" })).toBe(1210)
    // per hour, idle since 900, due at 1200: kept until 120 s before the paid hour ends
    expect(retireAt(0, 900, 1200, 120, { per: "hour" })).toBe(3480)
    expect(retireAt(100, 3750, 3900, 120, { per: "hour" })).toBe(7180)
    // due within the margin before the hour ends: goes the margin before it (earlier than due) ...
    expect(retireAt(0, 3000, 3500, 120, { per: "hour" })).toBe(3480)
    expect(retireAt(0, 3000, 3600, 120, { per: "hour" })).toBe(3480)
    // ... unless it went idle after that point: the next hour is bought anyway, kept to its end
    expect(retireAt(0, 3490, 3590, 120, { per: "hour" })).toBe(7080)
    // idle since 3000, due at 4200 (past the hour's end): goes at 3480 instead of buying the second hour
    expect(retireAt(0, 3000, 4200, 120, { per: "hour" })).toBe(3480)
    // went idle at 3500, after that point: the second hour is bought, kept to its end
    expect(retireAt(0, 3500, 4700, 120, { per: "hour" })).toBe(7080)
  })

  it("paidAhead: what is already paid beyond an age", () => {
    expect(paidAhead(100, null)).toBe(0)
    expect(paidAhead(100, { per: "hour" })).toBe(3500)
    expect(paidAhead(30, { per: "second", minimum: 60 })).toBe(30)
    expect(paidAhead(90, { per: "second", minimum: 60 })).toBe(0)
  })
})

describe("the summary's cost under a billing model", () => {
  // one job of 100 s on one cloud node; the node idles max_idle_time (60 s) and is destroyed
  const run = (billing: Billing | undefined) => {
    const res: KitResource = { name: "c", max: 2, cores: 4, price: 3.6, bootTime: { type: "constant", value: 30 }, ...(billing !== undefined ? { billing } : {}) }
    const sc = kitScenario({
      resources: [res],
      jobs: [{ submit: 10, runtime: 100, cores: 4, cpn: 4 }],
      maxTime: 20_000,
      settings: { max_idle_time: 60, policy: "classic" }
    })
    const r = runScenario(sc, { policy: "classic" })
    const spec = sc.world.resources[0]
    const re = summaryFromEvents(r.events.slice(0, -1), () => spec.cores, () => spec.price, () => spec.billing ?? null)
    return { s: r.summary, re: re.perRes.get("c")! }
  }

  it("per second, no model: price × node-hours; per hour: whole started hours; a minimum", () => {
    const plain = run(undefined)
    const life = plain.s.resources.c.node_hours * 3600
    expect(plain.s.resources.c.boots).toBe(1)
    expect(life).toBeGreaterThan(100)
    expect(life).toBeLessThan(3600)
    expect(plain.s.resources.c.cost).toBeCloseTo((life / 3600) * 3.6, 2)

    const hourly = run({ per: "hour" })
    expect(hourly.s.resources.c.node_hours).toBe(plain.s.resources.c.node_hours)
    expect(hourly.s.resources.c.core_hours).toBe(plain.s.resources.c.core_hours)
    expect(hourly.s.resources.c.cost).toBe(3.6)
    expect(hourly.re.billedS).toBe(3600)

    const minimum = run({ per: "second", minimum: 1800 })
    expect(minimum.s.resources.c.cost).toBe(1.8)
    expect(minimum.s.total.cost).toBe(1.8)
    expect(minimum.re.billedS).toBe(1800)
  })
})
