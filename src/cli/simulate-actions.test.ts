/**
 * `dyncluster simulate` honours a scenario file's `operator_actions` (the
 * regression files of scenarios/regressions/) exactly as `soak --replay`
 * does: the actions' `operator` lines are in the event log, and the whole log
 * is the one `runWorld` (src/sim/harness.ts) writes for the same file.
 */
import { Either } from "effect"
import { execa } from "execa"
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { loadRegression, runWorld } from "../sim/harness.ts"
import { decodeScenario } from "../sim/scenario.ts"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const DIR = join(ROOT, "scenarios/regressions")
const tmp = mkdtempSync(join(tmpdir(), "simulate-actions-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const simulate = (...args: Array<string>) =>
  execa("node", [join(ROOT, "bin/dyncluster.js"), "simulate", ...args], { cwd: ROOT, reject: false, env: { FORCE_COLOR: "0" } })

const withActions = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .filter((f) => loadRegression(join(DIR, f)).actions.length > 0)

describe("simulate applies operator_actions", () => {
  it("some regression files carry operator actions", () => {
    expect(withActions.length).toBeGreaterThan(0)
  })

  // one spawn (seconds of start-up) is enough: the file whose actions change the most
  const file = "restore-after-drain-skips-provisioning.yaml"
  it(`${file}: the event log of simulate --events is runWorld's, operator lines included`, { timeout: 60_000 }, async () => {
    const path = join(DIR, file)
    const events = join(tmp, "r.jsonl")
    const r = await simulate(path, "--json", "--quiet", "--events", events)
    expect(r.stderr).toBe("")
    expect(r.exitCode).toBe(0)
    const lines = readFileSync(events, "utf8").trimEnd().split("\n")

    const reg = loadRegression(path)
    const ops = lines.map((l) => JSON.parse(l) as { t: number; ev: string; op?: string; target?: string; ok?: boolean }).filter((e) => e.ev === "operator")
    expect(ops.map((e) => [e.t, e.op, e.target])).toEqual(reg.actions.map((a) => [a.at, a.op, "resource" in a ? a.resource : expect.anything()]))
    expect(ops.every((e) => e.ok === true)).toBe(true)

    const expected = runWorld(reg.scenario, reg.actions, { policy: reg.policy })
    expect(expected.crash).toBeNull()
    expect(lines).toEqual(expected.lines)
    // the restore let the queued job start (the bug this file records)
    expect(JSON.parse(r.stdout).jobs.finished).toBe(1)
  })
})

describe("operator_actions in a scenario file", () => {
  const base = {
    config: { "dynamic-cluster": {}, cluster: { type: "simulated" }, cloud: { r1: { type: "simulated", quantity: { max: 1 } } } },
    clouds: { r1: { cores: 1 } },
    workload: { type: "jobs", jobs: [{ submit: 0, cores: 1, runtime: 10 }] }
  }

  it("decode sorted by time, without an unknown-key warning", () => {
    const s = decodeScenario(
      { ...base, operator_actions: [{ at: 50, op: "restore", resource: "r1" }, { at: 5, op: "auto", on: false }] },
      { baseDir: tmp }
    )
    if (Either.isLeft(s)) throw new Error(s.left.message)
    expect(s.right.operatorActions.map((a) => a.at)).toEqual([5, 50])
    expect(s.right.warnings).toEqual([])
  })

  it("a bad action is an error naming its path", () => {
    const s = decodeScenario({ ...base, operator_actions: [{ at: 5, op: "auto", on: false }, { at: -1, op: "reboot", resource: "r1" }] }, { baseDir: tmp })
    expect(Either.isLeft(s)).toBe(true)
    if (Either.isLeft(s)) expect(s.left.message).toMatch(/operator_actions\.1/)
  })
})
