import { Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { policyList } from "./options.ts"

describe("--policy", () => {
  it("takes registered policies and demand variants, and names what is unknown and what is known", () => {
    expect(policyList(Option.none())).toEqual(Either.right(null))
    expect(policyList(Option.some("classic, lean,demand+reactive"))).toEqual(Either.right(["classic", "lean", "demand+reactive"]))
    const bad = policyList(Option.some("classic,demand+reactiv,leen"))
    expect(Either.isLeft(bad)).toBe(true)
    const msg = Either.isLeft(bad) ? bad.left : ""
    expect(msg).toMatch(/^--policy: unknown policy "demand\+reactiv", "leen" \(known: classic, demand, lean; or demand with ideas/)
    expect(msg).toContain("docs/policies.md")
    expect(policyList(Option.some(" , "))).toEqual(Either.left("--policy: expected a policy name or a comma-separated list"))
  })
})
