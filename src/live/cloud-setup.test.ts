import { Effect, Random } from "effect"
import { describe, expect, it } from "vitest"
import { newInstanceName, SUFFIX_ALPHABET, SUFFIX_LENGTH } from "./cloud-setup.ts"

const names = (prefix: string, n: number, seed: number) =>
  Effect.runSync(Effect.forEach(Array.from({ length: n }), () => newInstanceName(prefix)).pipe(Effect.withRandom(Random.make(seed))))

describe("newInstanceName (the one instance-name generator of the EC2 and OpenStack layers)", () => {
  it("is <prefix>- and 8 lower-case letters or digits", () => {
    expect(SUFFIX_LENGTH).toBe(8)
    for (const name of names("wn", 200, 1)) expect(name).toMatch(/^wn-[a-z0-9]{8}$/)
    expect(names("awswn.gpu", 1, 2)[0]).toMatch(/^awswn\.gpu-[a-z0-9]{8}$/)
  })

  it("draws from the Random service: the same seed gives the same names, names do not repeat", () => {
    const a = names("wn", 500, 42)
    expect(names("wn", 500, 42)).toEqual(a)
    expect(names("wn", 500, 43)).not.toEqual(a)
    expect(new Set(a).size).toBe(a.length)
  })

  it("uses the whole alphabet, letters and digits alike", () => {
    const seen = new Set(names("p", 400, 7).flatMap((n) => [...n.slice(2)]))
    expect([...seen].sort().join("")).toBe([...SUFFIX_ALPHABET].sort().join(""))
  })
})
