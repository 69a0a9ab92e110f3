/**
 * `dyncluster simulate SCEN --policy a,b --seeds A-B` through the real
 * command line (a child process): the table of means with 95 % intervals and
 * the Δ column against the first policy; the number of worker processes does
 * not change a byte of it; a bad --seeds is a one-line error naming the
 * option, exit ≠ 0.
 */
import { execa } from "execa"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const QUICKSTART = join(ROOT, "scenarios/quickstart.yaml")

const simulate = (...args: Array<string>) =>
  execa("node", [join(ROOT, "bin/dyncluster.js"), "simulate", ...args], { cwd: ROOT, reject: false, env: { FORCE_COLOR: "0" } })

type Run = Awaited<ReturnType<typeof simulate>>

describe("simulate --policy classic,lean --seeds 1-3", () => {
  let inProcess: Run, twoWorkers: Run
  beforeAll(async () => {
    // one after the other: the two-worker run uses both cores of the test machine
    inProcess = await simulate(QUICKSTART, "--policy", "classic,lean", "--seeds", "1-3", "--workers", "1", "--quiet")
    twoWorkers = await simulate(QUICKSTART, "--policy", "classic,lean", "--seeds", "1-3", "--workers", "2", "--quiet")
  }, 180_000)

  it("prints per policy the mean ± a 95 % interval of each figure and Δ against classic with its interval", () => {
    expect(inProcess.exitCode, inProcess.stderr).toBe(0)
    const lines = inProcess.stdout.split("\n")
    expect(lines[0]).toBe(
      "Scenario quickstart · seeds 1-3 (3 run(s) per variant) · mean ± half-width of a 95 % t-interval over seeds; Δ: per-seed change against classic, mean [95 % interval]"
    )
    expect(lines.find((l) => /^\s+classic\s+lean\s+Δ vs classic$/.test(l))).toBeDefined()
    const num = "[\\d.,]+ ± [\\d.,]+"
    const delta = "[+−-][\\d.,]+ % \\[[+−-][\\d.,]+, [+−-][\\d.,]+\\]"
    for (const row of ["mean wait \\(s\\)", "p95 wait \\(s\\)", "cost \\(units\\)", "paid core-hours", "boots"]) {
      expect(inProcess.stdout, row).toMatch(new RegExp(`^${row}\\s+${num}\\s+${num}\\s+${delta}$`, "m"))
    }
    expect(inProcess.stderr).toBe("")
  })

  it("the same bytes on two worker processes as in this process", () => {
    expect(twoWorkers.exitCode, twoWorkers.stderr).toBe(0)
    expect(twoWorkers.stdout).toBe(inProcess.stdout)
  })
})

describe("simulate --seeds: a bad value", () => {
  const bad: ReadonlyArray<readonly [string, string]> = [
    ["5-2", "the range 5-2 ends before it starts (e.g. 2-5)"],
    ["x", "expected a range or list of integers, e.g. 1-10, 6-10 or 1,3,5"],
    ["1-3,2", "a seed is named twice"]
  ]
  const runs = new Map<string, Run>()
  // (together: each run is mostly the command's start-up)
  beforeAll(async () => {
    await Promise.all(bad.map(async ([value]) => runs.set(value, await simulate(QUICKSTART, "--policy", "classic,lean", "--seeds", value, "--quiet"))))
  }, 90_000)

  it.each(bad)("--seeds %s: one line naming the option, exit ≠ 0, nothing on stdout", (value, why) => {
    const r = runs.get(value)!
    expect(r.exitCode).not.toBe(0)
    expect(r.stdout).toBe("")
    expect(r.stderr.trim()).toBe(`--seeds ${value}: ${why}`)
  })
})
