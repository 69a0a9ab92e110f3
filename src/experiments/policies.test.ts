import { describe, expect, it } from "vitest"
import { leanOptions, leanPolicy } from "../engine/policies/lean.ts"
import { configuredPolicy, policyNames, supportedPolicy, unsupportedPolicy } from "../engine/policy.ts"
import { decodeConfig } from "../model/config.ts"
import { variantOptions } from "./demand-variants.ts"
import { experimentPolicy, registerExperiment, resolveExperiment } from "./policies.ts"

describe("supported policies vs experiments", () => {
  it("lean's literal options are exactly what its variant string used to build", () => {
    expect(leanOptions).toStrictEqual(variantOptions("+widenew+percore+learn+reactive+wideidle+hedgeone+paid+knob"))
    expect(leanPolicy.name).toBe("lean")
  })

  it("the daemon's registry has classic, demand and lean only; variants resolve only as experiments", () => {
    expect(policyNames()).toEqual(["classic", "demand", "lean"])
    for (const name of policyNames()) expect(experimentPolicy(name)).toBe(supportedPolicy(name))
    for (const variant of ["demand-no-pool+fitfast", "demand+hedge", "demand-no-pool+fitfast+capped"]) {
      expect(supportedPolicy(variant)).toBeUndefined()
      expect(experimentPolicy(variant)?.name).toBe(variant)
    }
    expect(experimentPolicy("demand+nosuchidea")).toBeUndefined()
    expect(() => resolveExperiment("nope")).toThrow(/^unknown policy "nope" \(known: classic, demand, lean\)$/)
  })

  it("a policy registered by a test is an experiment, never a supported policy", () => {
    registerExperiment({ name: "test-registered", description: "test", decide: () => ({ provision: new Map(), jobsFor: new Map(), reasons: [] }) })
    expect(experimentPolicy("test-registered")?.name).toBe("test-registered")
    expect(supportedPolicy("test-registered")).toBeUndefined()
  })

  it("a configuration naming a variant names the key and the supported policies", () => {
    expect(unsupportedPolicy("lean")).toBeNull()
    expect(unsupportedPolicy("demand-no-pool+fitfast")).toMatch(
      /^dynamic-cluster\.policy: "demand-no-pool\+fitfast" is not a supported policy \(supported: classic, demand, lean\)/
    )
    const config = (policy: string) => {
      const d = decodeConfig({ "dynamic-cluster": { policy }, cluster: { type: "torque" }, cloud: {} })
      if (d._tag === "Left") throw d.left
      return d.right.config
    }
    expect(configuredPolicy(config("demand"))).toBe(supportedPolicy("demand"))
    expect(() => configuredPolicy(config("demand+hedge"))).toThrow(/dynamic-cluster\.policy: "demand\+hedge" is not a supported policy/)
  })
})
