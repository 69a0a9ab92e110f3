/**
 * bench/hey.ts: hey 0.1.4's `-o csv`, captured on this machine
 * (bench/fixtures/hey-0.1.4-*.csv: 3 workers × 4 req/s for 1 s, and 2 × 3
 * against a path answering 404), read into latencies; bad output rejected;
 * the argument vector.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { heyArgs, parseHeyCsv, summarizeHey } from "./hey.ts"

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")

describe("parseHeyCsv", () => {
  it("reads one latency per answer (seconds → ms)", () => {
    const r = parseHeyCsv(fixture("hey-0.1.4-ok.csv"))
    expect(r.latenciesMs).toHaveLength(12)
    expect(r.non2xx).toBe(0)
    const s = summarizeHey(r)
    expect(s.answers).toBe(12)
    expect(s.max).toBe(Math.max(...r.latenciesMs))
    expect(s.p99).toBe(s.max)
  })

  it("counts answers that are not 2xx or 3xx", () => {
    const r = parseHeyCsv(fixture("hey-0.1.4-404.csv"))
    expect(r.non2xx).toBe(6)
    expect(r.latenciesMs[0]).toBeCloseTo(5.1, 9)
  })

  it("rejects output that is not hey's csv, naming the line", () => {
    expect(() => parseHeyCsv("Summary:\n  Total: 1 secs\n")).toThrow(/expected the header/)
    expect(() => parseHeyCsv(fixture("hey-0.1.4-ok.csv") + "garbage,1\n")).toThrow(/line 14: not a result row/)
  })
})

describe("heyArgs", () => {
  it("splits the rate over the workers", () => {
    expect(heyArgs({ url: "http://127.0.0.1:1/workernode", connections: 50, rate: 500, durationS: 10, headers: { "Accept-Encoding": "gzip" } })).toEqual([
      "-z", "10s", "-c", "50", "-q", "10", "-t", "120", "-o", "csv", "-H", "Accept-Encoding: gzip", "http://127.0.0.1:1/workernode"
    ])
  })
  it("refuses a rate that the workers cannot share evenly", () => {
    expect(() => heyArgs({ url: "u", connections: 50, rate: 120, durationS: 1 })).toThrow(/multiple of the connections/)
  })
})
