import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Distribution, meanOf, Rng, sample } from "./random.ts"

const draws = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.next())
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

describe("Rng", () => {
  it("is deterministic for a seed and differs between seeds", () => {
    expect(draws(Rng.make(42), 100)).toEqual(draws(Rng.make(42), 100))
    expect(draws(Rng.make(42), 100)).not.toEqual(draws(Rng.make(43), 100))
    expect(draws(Rng.make("scenario-a"), 10)).toEqual(draws(Rng.make("scenario-a"), 10))
    // 53-bit seeds use their high bits too
    expect(draws(Rng.make(2 ** 40 + 1), 10)).not.toEqual(draws(Rng.make(1), 10))
  })

  it("pins the first numbers (a change here silently changes every recorded seed)", () => {
    const r = Rng.make(1)
    expect([r.uint32(), r.uint32(), r.uint32()]).toEqual([3500660778, 482870607, 3341273266])
    expect(Rng.make(1).fork("a").uint32()).toBe(4276277476)
  })

  it("next() stays in [0, 1) and int() covers both ends", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -50, max: 50 }), fc.integer({ min: 0, max: 20 }), (seed, lo, width) => {
        const r = Rng.make(seed)
        for (let i = 0; i < 200; i++) {
          const x = r.next()
          expect(x >= 0 && x < 1).toBe(true)
          const k = r.int(lo, lo + width)
          expect(Number.isInteger(k) && k >= lo && k <= lo + width).toBe(true)
        }
      })
    )
    const r = Rng.make(7)
    const seen = new Set<number>()
    for (let i = 0; i < 1000; i++) seen.add(r.int(1, 6))
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5, 6])
  })

  it("fork depends on the label and the seed, not on draws already made", () => {
    const a = Rng.make(5)
    const b = Rng.make(5)
    draws(b, 1000)
    expect(draws(a.fork("arrivals"), 20)).toEqual(draws(b.fork("arrivals"), 20))
    expect(draws(a.fork("arrivals"), 20)).not.toEqual(draws(a.fork("runtimes"), 20))
    expect(draws(a.fork("x"), 20)).not.toEqual(draws(a, 20))
    expect(draws(Rng.make(5).fork("x"), 20)).not.toEqual(draws(Rng.make(6).fork("x"), 20))
    expect(draws(a.fork("x").fork("y"), 5)).toEqual(draws(Rng.make(5).fork("x").fork("y"), 5))
  })

  it("forked streams are uncorrelated", () => {
    const r = Rng.make(99)
    const xs = draws(r.fork("a"), 20000)
    const ys = draws(r.fork("b"), 20000)
    const mx = mean(xs), my = mean(ys)
    let cov = 0, vx = 0, vy = 0
    for (let i = 0; i < xs.length; i++) {
      cov += (xs[i] - mx) * (ys[i] - my)
      vx += (xs[i] - mx) ** 2
      vy += (ys[i] - my) ** 2
    }
    expect(Math.abs(cov / Math.sqrt(vx * vy))).toBeLessThan(0.03)
  })

  it("draws have the expected moments", () => {
    const r = Rng.make(2024)
    const n = 50000
    const u = Array.from({ length: n }, () => r.next())
    expect(mean(u)).toBeCloseTo(0.5, 1)
    const e = Array.from({ length: n }, () => r.exponential(300))
    expect(mean(e)).toBeGreaterThan(285)
    expect(mean(e)).toBeLessThan(315)
    const z = Array.from({ length: n }, () => r.normal(10, 2))
    const mz = mean(z)
    expect(mz).toBeGreaterThan(9.95)
    expect(mz).toBeLessThan(10.05)
    const sd = Math.sqrt(mean(z.map((x) => (x - mz) ** 2)))
    expect(sd).toBeGreaterThan(1.95)
    expect(sd).toBeLessThan(2.05)
    const l = Array.from({ length: n }, () => r.lognormal(Math.log(100), 1)).sort((a, b) => a - b)
    expect(l[n / 2]).toBeGreaterThan(95)
    expect(l[n / 2]).toBeLessThan(105)
  })

  it("pick, weighted and shuffle", () => {
    const r = Rng.make(3)
    const counts = [0, 0, 0]
    for (let i = 0; i < 30000; i++) counts[r.weighted([1, 0, 3])]++
    expect(counts[1]).toBe(0)
    expect(counts[2] / counts[0]).toBeGreaterThan(2.7)
    expect(counts[2] / counts[0]).toBeLessThan(3.3)
    expect(["a", "b"]).toContain(r.pick(["a", "b"]))
    const xs = [1, 2, 3, 4, 5, 6, 7, 8]
    const s = r.shuffle(xs)
    expect([...s].sort()).toEqual(xs)
    expect(xs).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  })
})

describe("Distribution", () => {
  const decode = Schema.decodeUnknownEither(Distribution)
  const ok = (u: unknown): Distribution => Either.getOrThrow(decode(u))

  it("decodes every kind, and a bare number as a constant", () => {
    expect(ok(5)).toEqual({ type: "constant", value: 5 })
    expect(ok({ type: "constant", value: 2 })).toEqual({ type: "constant", value: 2 })
    expect(ok({ type: "uniform", min: 1, max: 3 }).type).toBe("uniform")
    expect(ok({ type: "exponential", mean: 60 }).type).toBe("exponential")
    expect(ok({ type: "lognormal", median: 600, sigma: 1.2 }).type).toBe("lognormal")
    expect(ok({ type: "normal", mean: 5, sd: 1, min: 1 }).type).toBe("normal")
    expect(ok({ type: "choice", values: [1, 2, 4], weights: [5, 3, 1] }).type).toBe("choice")
  })

  it("refuses bad parameters", () => {
    for (const bad of [
      { type: "uniform", min: 3, max: 1 },
      { type: "exponential", mean: 0 },
      { type: "lognormal", median: -1, sigma: 1 },
      { type: "normal", mean: 1, sd: -1 },
      { type: "choice", values: [1, 2], weights: [1] },
      { type: "choice", values: [1, 2], weights: [0, 0] },
      { type: "choice", values: [] },
      { type: "gamma", shape: 2 },
      "7"
    ]) {
      expect(Either.isLeft(decode(bad)), JSON.stringify(bad)).toBe(true)
    }
  })

  it("sample means are roughly right", () => {
    const r = Rng.make(11)
    const n = 40000
    const cases: Array<Distribution> = [
      { type: "constant", value: 4 },
      { type: "uniform", min: 10, max: 20 },
      { type: "exponential", mean: 120 },
      { type: "lognormal", median: 600, sigma: 0.8 },
      { type: "normal", mean: 50, sd: 10 },
      { type: "choice", values: [1, 2, 4, 8], weights: [4, 3, 2, 1] },
      { type: "choice", values: [1, 3] }
    ]
    for (const d of cases) {
      const m = mean(Array.from({ length: n }, () => sample(d, r)))
      const expected = meanOf(d)!
      expect(Math.abs(m - expected) / expected, JSON.stringify(d)).toBeLessThan(0.03)
    }
  })

  it("a truncated normal never goes under its min", () => {
    const r = Rng.make(12)
    const d: Distribution = { type: "normal", mean: 2, sd: 5, min: 1 }
    for (let i = 0; i < 5000; i++) expect(sample(d, r)).toBeGreaterThanOrEqual(1)
  })

  it("sampling is deterministic", () => {
    const d: Distribution = { type: "lognormal", median: 60, sigma: 2 }
    const a = Rng.make(8), b = Rng.make(8)
    expect(Array.from({ length: 50 }, () => sample(d, a))).toEqual(Array.from({ length: 50 }, () => sample(d, b)))
  })
})
