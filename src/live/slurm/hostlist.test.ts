import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { compressHostlist, expandHostlist } from "./hostlist.ts"

const right = <A, E>(e: Either.Either<A, E>): A => Either.getOrThrowWith(e, (err) => new Error(`expected Right, got ${JSON.stringify(err)}`))
const leftMessage = <A, E extends { message: string }>(e: Either.Either<A, E>): string =>
  Either.match(e, { onLeft: (l) => l.message, onRight: () => "(Right)" })

describe("expandHostlist", () => {
  it.each([
    ["cloud[1-3,7]", ["cloud1", "cloud2", "cloud3", "cloud7"]],
    ["a[01-03],b", ["a01", "a02", "a03", "b"]],
    ["node1", ["node1"]],
    ["n[9-11]", ["n9", "n10", "n11"]],
    ["n[08-10]", ["n08", "n09", "n10"]],
    ["rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]],
    ["a[1-2]x", ["a1x", "a2x"]],
    ["x,y x", ["x", "y"]],
    ["", []],
    ["(null)", []],
    ["capA", ["capA"]],
    ["vm-1.example.org", ["vm-1.example.org"]]
  ])("%s", (expr, hosts) => {
    expect(right(expandHostlist(expr))).toEqual(hosts)
  })

  it.each([
    ["a[1-", /unclosed/],
    ["a]", /without "\["/],
    ["a[[1]]", /nested/],
    ["a[3-1]", /backwards/],
    ["a[x]", /bad range/],
    ["a[]", /bad range/],
    ["a;b", /unexpected character/],
    ["a[1-1000000]", /more than 100000 hosts/],
    ["a[1-1000]b[1-1000]", /more than 100000 hosts/]
  ])("refuses %s", (expr, why) => {
    expect(leftMessage(expandHostlist(expr))).toMatch(why)
  })

  it("refuses non-text", () => {
    expect(leftMessage(expandHostlist(3))).toMatch(/expected text/)
  })

  it("never throws, whatever the input", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("a", "1", "-", ",", "[", "]", " ", "0", "9", ".", "x", "\u0000"), maxLength: 40 }), (s) => {
        expect(Either.isEither(expandHostlist(s))).toBe(true)
      }),
      { numRuns: 1000 }
    )
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(Either.isEither(expandHostlist(s))).toBe(true)
      })
    )
  })
})

describe("compressHostlist", () => {
  it("groups numbered names", () => {
    expect(compressHostlist(["n1", "n2", "n3", "n7", "login", "a01", "a02"])).toBe("n[1-3,7],login,a[01-02]")
    expect(compressHostlist(["x"])).toBe("x")
    expect(compressHostlist([])).toBe("")
  })

  it("expandHostlist(compressHostlist(names)) gives the same set", () => {
    const name = fc
      .tuple(fc.constantFrom("n", "cloud", "a-b", "vm.", "x"), fc.option(fc.nat(120), { nil: undefined }), fc.boolean())
      .map(([p, n, pad]) => (n === undefined ? p : p + (pad ? String(n).padStart(3, "0") : String(n))))
    fc.assert(
      fc.property(fc.array(name, { maxLength: 30 }), (names) => {
        const back = right(expandHostlist(compressHostlist(names)))
        expect(new Set(back)).toEqual(new Set(names))
        expect(back.length).toBe(new Set(names).size)
      }),
      { numRuns: 500 }
    )
  })
})
