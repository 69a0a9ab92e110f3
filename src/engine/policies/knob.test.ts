/**
 * The trade-off knob `dynamic-cluster.wait_value` (docs/policies.md): the
 * spare boot of lean/demand is weighed against the wait it saves, in money;
 * without the knob nothing changes (the golden test pins lean's logs).
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { Billing } from "../../model/billing.ts"
import { parseConfigText } from "../../model/config.ts"
import type { PolicyInput } from "../policy.ts"
import { moneyK, spareWorthIt } from "./demand.ts"

describe("the trade-off knob (dynamic-cluster.wait_value): spareWorthIt", () => {
  const input = (waitValue: number | undefined, billing?: Billing): PolicyInput => ({
    now: 0,
    jobs: [],
    resources: [],
    nodes: [],
    inflight: new Map(),
    prices: new Map([["aws", 0.68]]),
    ...(billing !== undefined ? { billing: new Map([["aws", billing]]) } : {}),
    ...(waitValue !== undefined ? { waitValue } : {})
  })
  it("without wait_value (or a price) a spare is always booted, as before the knob", () => {
    expect(spareWorthIt(input(undefined), "aws", 300, 16)).toBe(true)
    expect(spareWorthIt(input(0), "unpriced", 300, 16)).toBe(true)
  })
  it("a spare is booted when half a boot time of its cores' wait is worth its billed boot and idle time", () => {
    // cost 0.68 × 600 s / 3600 = 0.113; saved w × 0.5 × 16 × 300 / 3600 = 0.667 w
    expect(spareWorthIt(input(0), "aws", 300, 16)).toBe(false)
    expect(spareWorthIt(input(0.16), "aws", 300, 16)).toBe(false)
    expect(spareWorthIt(input(0.18), "aws", 300, 16)).toBe(true)
    // billed per started hour: 0.68 to pay, worth it from about 1.02
    expect(spareWorthIt(input(1, { per: "hour" }), "aws", 300, 16)).toBe(false)
    expect(spareWorthIt(input(1.1, { per: "hour" }), "aws", 300, 16)).toBe(true)
  })
})

describe("the trade-off knob: moneyK, the break-even K of the pool's learned keep in money", () => {
  it("is the billed boot plus a boot time of waiting on the node's cores, in idle seconds of the node's price", () => {
    // spot: 16 cores, 0.24 per node-hour, per second with a 60-s minimum, boot 210 s, wait_value 0.2
    expect(moneyK(210, 16, 0.24, { per: "second", minimum: 60 }, 0.2)).toBeCloseTo(210 + (0.2 * 16 * 210) / 0.24, 6)
    // a boot shorter than the minimum is billed the minimum; wait_value 0: only the boot
    expect(moneyK(30, 16, 0.24, { per: "second", minimum: 60 }, 0)).toBe(60)
    // billed per started hour: a new boot costs a whole hour
    expect(moneyK(170, 16, 0.68, { per: "hour" }, 0)).toBe(3600)
  })
  it("is null (the learned keep's own K) without wait_value, a price or cores", () => {
    expect(moneyK(210, 16, 0.24, undefined, undefined)).toBeNull()
    expect(moneyK(210, 16, undefined, undefined, 0.2)).toBeNull()
    expect(moneyK(210, 0, 0.24, undefined, 0.2)).toBeNull()
  })
})

describe("dynamic-cluster.wait_value in the configuration", () => {
  it("is a non-negative number, named by its key path when wrong", () => {
    const conf = (v: string) => `dynamic-cluster:\n  wait_value: ${v}\ncluster:\n  type: torque\n`
    const good = parseConfigText(conf("0.2"))
    expect(Either.isRight(good) && good.right.config["dynamic-cluster"].wait_value).toBe(0.2)
    const bad = parseConfigText(conf("-1"))
    expect(Either.isLeft(bad) && bad.left.problems).toEqual(["dynamic-cluster.wait_value: expected a non-negative number (money per waiting core-hour), got -1"])
  })
})
