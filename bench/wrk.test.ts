/**
 * bench/wrk.ts: wrk 4.1.0's `--latency` report, captured on this machine
 * (bench/fixtures/wrk-4.1.0-*.txt), read into figures; bad reports rejected
 * with the line that is missing; the argument vector.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { parseWrk, wrkArgs, wrkErrors, wrkTimeMs } from "./wrk.ts"

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")

describe("parseWrk", () => {
  it("reads the latency distribution, requests and Requests/sec of a clean run", () => {
    const r = parseWrk(fixture("wrk-4.1.0-latency.txt"))
    expect([r.p50, r.p75, r.p90, r.p99]).toEqual([4.94, 6.79, 8.44, 67.85])
    expect(r.avgMs).toBe(7.14)
    expect(r.maxMs).toBe(305.14)
    expect(r.requests).toBe(80222)
    expect(r.durationS).toBeCloseTo(10.01, 9)
    expect(r.bytesRead).toBeCloseTo(9.43 * 1024 ** 3, 0)
    expect(r.reqPerS).toBe(8012.53)
    expect(r.bytesPerS).toBeCloseTo(0.94 * 1024 ** 3, 0)
    expect(r.socketErrors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 })
    expect(r.non2xx).toBe(0)
    expect(wrkErrors(r)).toBe(0)
  })

  it("counts socket errors and non-2xx responses", () => {
    const r = parseWrk(fixture("wrk-4.1.0-errors.txt"))
    expect([r.p50, r.p75, r.p90, r.p99]).toEqual([1.15, 3.07, 8.48, 31.42])
    expect(r.requests).toBe(368)
    expect(r.reqPerS).toBe(122.31)
    expect(r.bytesRead).toBeCloseTo(53.07 * 1024, 6)
    expect(r.socketErrors).toEqual({ connect: 0, read: 62, write: 0, timeout: 0 })
    expect(r.non2xx).toBe(123)
    expect(wrkErrors(r)).toBe(185)
  })

  it("reads wrk's time units", () => {
    expect(wrkTimeMs("850.00us")).toBeCloseTo(0.85, 9)
    expect(wrkTimeMs("12.5ms")).toBe(12.5)
    expect(wrkTimeMs("1.20s")).toBe(1200)
    expect(wrkTimeMs("2.00m")).toBe(120_000)
    expect(() => wrkTimeMs("3.0parsecs")).toThrow(/cannot read "3.0parsecs"/)
  })

  it("rejects a report without the latency distribution, naming the missing line", () => {
    const text = fixture("wrk-4.1.0-latency.txt")
    const without = text.replace(/^\s*99%.*$/m, "")
    expect(() => parseWrk(without)).toThrow(/no "99%" latency distribution line/)
    expect(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n")).toThrow(/no "Latency" thread stats line .*unable to connect/)
    expect(() => parseWrk(text.replace(/^Requests\/sec:.*$/m, ""))).toThrow(/no "Requests\/sec:" line/)
  })
})

describe("wrkArgs", () => {
  it("one thread, the connections, duration, timeout, --latency, headers, then the URL; pinned through taskset", () => {
    const o = { url: "http://127.0.0.1:1/workernode", connections: 50, durationS: 10, headers: { "Accept-Encoding": "gzip" } }
    expect(wrkArgs(o)).toEqual(["-t1", "-c50", "-d10s", "--timeout", "120s", "--latency", "-H", "Accept-Encoding: gzip", "http://127.0.0.1:1/workernode"])
    expect(wrkArgs({ ...o, cpus: "0" }).slice(0, 4)).toEqual(["-c", "0", "wrk", "-t1"])
  })
})
