/**
 * `dyncluster simulate` through the real command line (a child process), so
 * exit codes, stdout and files are what a user gets. Each spawn costs a few
 * seconds of start-up (tsx), so the runs are shared between the checks.
 */
import { Either } from "effect"
import { execa } from "execa"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadScenarioFile } from "../sim/scenario.ts"
import { summaryFromEvents, type Summary } from "../sim/summary.ts"
import { eventsPathFor, formatTable, humanDuration, variantsOf } from "./simulate.ts"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const QUICKSTART = join(ROOT, "scenarios/quickstart.yaml")
const tmp = mkdtempSync(join(tmpdir(), "simulate-test-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const simulate = (...args: Array<string>) =>
  execa("node", [join(ROOT, "bin/dyncluster.js"), "simulate", ...args], { cwd: ROOT, reject: false, env: { FORCE_COLOR: "0" } })

type Run = Awaited<ReturnType<typeof simulate>>

/** Runs the command lines two at a time (the test machine has two cores). */
const simulateAll = async <K extends string>(cases: Record<K, Array<string>>): Promise<Record<K, Run>> => {
  const keys = Object.keys(cases) as Array<K>
  const out = {} as Record<K, Run>
  let next = 0
  const worker = async () => {
    while (next < keys.length) {
      const k = keys[next++]
      out[k] = await simulate(...cases[k])
    }
  }
  await Promise.all([worker(), worker()])
  return out
}

// Every run of quickstart, started together up front (each spawn costs seconds of start-up).
const evA = join(tmp, "a.jsonl")
const evB = join(tmp, "b.jsonl")
const evV = join(tmp, "v.jsonl")
let runs: Record<"a" | "b" | "variants" | "policies", Run>
beforeAll(async () => {
  runs = await simulateAll({
    a: [QUICKSTART, "--json", "--events", evA, "--report", join(tmp, "a.html"), "--set", "report.currency=EUR"],
    b: [QUICKSTART, "--json", "--events", evB, "--quiet"],
    // three values of one key on another seed; the middle one is the file's own value
    variants: [QUICKSTART, "--json", "--quiet", "--seed", "43", "--events", evV, ...["60", "300", "1800"].flatMap((v) => ["--set", `config.dynamic-cluster.max_idle_time=${v}`])],
    policies: [QUICKSTART, "--policy", "classic,classic", "--quiet"]
  })
}, 240_000)

describe("simulate scenarios/quickstart.yaml", () => {
  let a: Run, b: Run
  beforeAll(() => {
    a = runs.a
    b = runs.b
  })

  it("exits 0 and prints the summary as JSON", () => {
    expect(a.stderr).not.toMatch(/warning|error/i)
    expect(a.exitCode).toBe(0)
    const s = JSON.parse(a.stdout) as Summary
    expect(s.scenario).toBe("quickstart")
    expect(s.seed).toBe(42)
    expect(s.jobs.submitted).toBe(80)
    expect(s.jobs.finished).toBe(80)
    expect(s.resources.os.boots).toBeGreaterThan(0)
    expect(a.stderr).toContain(`event log: ${evA}`)
    expect(a.stderr).toContain(`report: ${join(tmp, "a.html")}`)
    const html = readFileSync(join(tmp, "a.html"), "utf8")
    expect(html.startsWith("<!doctype html>")).toBe(true)
    expect(html).toContain("quickstart")
    // the scenario's report.currency names the cost's unit
    expect(html).toContain("<th scope=\"row\">cost (EUR)</th>")
    expect(a.stderr).toMatch(/wall time: [\d.]+ s/)
  })

  it("the same seed gives byte-identical --json and --events output", () => {
    expect(b.exitCode).toBe(0)
    expect(b.stdout).toBe(a.stdout)
    const la = readFileSync(evA, "utf8")
    expect(la.length).toBeGreaterThan(1000)
    expect(readFileSync(evB, "utf8")).toBe(la)
    expect(b.stderr).toBe("") // --quiet: no wall time, no file notes
  })

  it("another seed gives another run", () => {
    expect(runs.variants.exitCode).toBe(0)
    const [, same] = JSON.parse(runs.variants.stdout) as Array<Summary>
    const ours = JSON.parse(a.stdout) as Summary
    expect(same.seed).toBe(43)
    expect({ ...same, seed: 42 }).not.toEqual(ours)
    expect(readFileSync(join(tmp, "v.2-max_idle_time=300.jsonl"), "utf8")).not.toBe(readFileSync(evA, "utf8"))
  })

  it("the event log ends with the summary, and its figures are recomputable from the log alone", () => {
    const lines = readFileSync(evA, "utf8").trimEnd().split("\n")
    const summary = JSON.parse(a.stdout) as Summary
    const last = JSON.parse(lines[lines.length - 1])
    expect(last.ev).toBe("end")
    expect(last.summary).toEqual(summary)

    const scenario = Either.getOrThrow(loadScenarioFile(QUICKSTART))
    const cores = (r: string) => scenario.world.resources.find((x) => x.name === r)!.cores
    const price = (r: string) => scenario.world.resources.find((x) => x.name === r)!.price
    const re = summaryFromEvents(lines.slice(0, -1), cores, price)
    expect(re.jobs).toEqual({
      submitted: summary.jobs.submitted,
      started: summary.jobs.started,
      finished: summary.jobs.finished,
      killed: summary.jobs.killed
    })
    expect(re.wait).toEqual(summary.wait)
    for (const [name, r] of Object.entries(summary.resources)) {
      const x = re.perRes.get(name)!
      expect(x.boots).toBe(r.boots)
      expect(x.failed).toBe(r.failed_boots)
      expect(x.peak).toBe(r.peak_nodes)
      expect(x.nodeS / 3600).toBeCloseTo(r.node_hours, 2)
      expect((x.nodeS * cores(name)) / 3600).toBeCloseTo(r.core_hours, 2)
      expect(x.useful / 3600).toBeCloseTo(r.useful_core_hours, 2)
      expect(((x.nodeS / 3600) * price(name)!)).toBeCloseTo(r.cost!, 1)
    }
    expect(summary.resources.os.useful_core_hours).toBeGreaterThan(0)
  })
})

describe("simulate: variants", () => {
  it("--policy classic,classic prints both columns, equal on the same seed", () => {
    const r = runs.policies
    expect(r.exitCode).toBe(0)
    const header = r.stdout.split("\n").find((l) => l.includes("classic"))!
    expect(header.match(/classic/g)).toHaveLength(2)
    const finished = r.stdout.split("\n").find((l) => l.trim().startsWith("finished"))!
    expect(finished.trim().split(/\s+/)).toEqual(["finished", "80", "80"])
    const paid = r.stdout.split("\n").find((l) => l.trim().startsWith("core-hours paid"))!.trim().split(/\s{2,}/)
    expect(paid[1]).toBe(paid[2])
  })

  it("a key given several times with --set makes variants; --json gives an array; --events one file each", () => {
    const r = runs.variants
    expect(r.exitCode).toBe(0)
    const out = JSON.parse(r.stdout) as Array<Summary & { variant: string; set: Record<string, string> }>
    expect(out.map((s) => s.variant)).toEqual(["max_idle_time=60", "max_idle_time=300", "max_idle_time=1800"])
    expect(out[0].set).toEqual({ "config.dynamic-cluster.max_idle_time": "60" })
    expect(out.map((s) => s.seed)).toEqual([43, 43, 43])
    // retiring idle nodes after a minute pays for fewer node-hours than after half an hour
    expect(out[0].total.node_hours).toBeLessThan(out[2].total.node_hours)
    out.forEach((s, i) => {
      const f = join(tmp, `v.${i + 1}-${s.variant}.jsonl`)
      expect(JSON.parse(readFileSync(f, "utf8").trimEnd().split("\n").at(-1)!).summary.total).toEqual(s.total)
    })
  })
})

describe("simulate: bad input gives a clear message and a non-zero exit", () => {
  const scenario = (name: string, text: string) => {
    const p = join(tmp, name)
    writeFileSync(p, text)
    return p
  }
  const valid = (workload: string, extra = "") => `
config:
  cluster: {type: simulated}
  cloud:
    os: {type: simulated, quantity: {max: 2}}
clouds:
  os: {cores: 4}
workload: ${workload}
${extra}`
  const swf = (id: number, submit: number) => `${id} ${submit} 0 100 4 -1 -1 4 200 -1 1 1 1 1 1 -1 -1 -1`
  const jobs = "{type: jobs, jobs: [{submit: 0, cores: 1, runtime: 10}]}"

  let bad: Record<string, Run>
  beforeAll(async () => {
    writeFileSync(join(tmp, "bad.swf"), `; header\n${swf(1, 0)}\n${swf(2, 5)}\n3 10 0 100 4 -1 -1 4 oops -1 1 1 1 1 1 -1 -1 -1\n`)
    const cases = {
      wrongType: [scenario("wrong-type.yaml", valid(jobs).replace("cores: 4", 'cores: "four"'))],
      unknownPolicy: [scenario("policy.yaml", valid(jobs).replace("config:\n", "config:\n  dynamic-cluster: {policy: greedy}\n"))],
      missingTrace: [scenario("missing.yaml", valid("{type: swf, file: traces/none.swf.gz}"))],
      corruptSwf: [scenario("corrupt.yaml", valid("{type: swf, file: bad.swf}"))],
      unknownResource: [scenario("resource.yaml", valid(jobs).replace("clouds:\n", "clouds:\n  gcp: {cores: 2}\n"))],
      policyOption: [scenario("ok.yaml", valid(jobs)), "--policy", "classic,nope"],
      // 12 cores: the two resources together could hold it, neither alone can
      stall: [
        scenario(
          "stall.yaml",
          valid("{type: jobs, jobs: [{id: big, submit: 0, cores: 12, cpn: 4, runtime: 60}]}")
            .replace("    os: {type: simulated, quantity: {max: 2}}", "    os: {type: simulated, quantity: {max: 2}}\n    aws: {type: simulated, quantity: {max: 2}}")
            .replace("  os: {cores: 4}", "  os: {cores: 4}\n  aws: {cores: 4}")
        ),
        "--quiet"
      ]
    }
    bad = await simulateAll(cases)
  }, 240_000)

  const expectFailure = (r: Run, ...parts: Array<string>) => {
    expect(r.exitCode).not.toBe(0)
    expect(r.stdout).toBe("")
    for (const p of parts) expect(r.stderr).toContain(p)
  }

  it("wrong type", () => expectFailure(bad.wrongType, "invalid scenario", 'clouds.os.cores: expected a positive integer, got "four"'))
  it("unknown policy in the configuration", () =>
    expectFailure(bad.unknownPolicy, 'config.dynamic-cluster.policy: unknown policy "greedy"', "classic"))
  it("missing trace file", () => expectFailure(bad.missingTrace, "workload.file: trace file not found:", join(tmp, "traces/none.swf.gz")))
  it("corrupt SWF line, with its line number", () =>
    expectFailure(bad.corruptSwf, `workload.file: ${join(tmp, "bad.swf")}:4: field 9 is not a number: "oops"`))
  it("unknown resource in clouds", () => expectFailure(bad.unknownResource, "clouds.gcp: no cloud resource gcp in the configuration (it has: os)"))
  it("unknown policy in --policy", () => expectFailure(bad.policyOption, '--policy: unknown policy "nope"'))
  it("a run that can never finish stops with exit code 2, the summary so far and the reason", () => {
    const r = bad.stall
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain("warning: workload: 1 job(s) fit no single cloud resource")
    expect(r.stderr).toContain("error: the run stalled")
    expect(r.stderr).toContain("job big (12 core(s), 4 per node)")
    expect(r.stdout).toMatch(/submitted\s+1\n\s+started\s+0/)
  })
})

describe("formatting helpers", () => {
  it("variants: policies times the values of keys given several times", () => {
    expect(variantsOf(null, [])).toEqual([{ label: "", policy: undefined, sets: [] }])
    const v = variantsOf(["a", "b"], [
      ["x.y", "1"],
      ["clouds.os.boot_time.value", "60"],
      ["clouds.os.boot_time.value", "300"]
    ])
    expect(v.map((x) => x.label)).toEqual(["a boot_time.value=60", "a boot_time.value=300", "b boot_time.value=60", "b boot_time.value=300"])
    expect(v[1].sets).toEqual([
      ["x.y", "1"],
      ["clouds.os.boot_time.value", "300"]
    ])
  })

  it("event files get a suffix per variant", () => {
    expect(eventsPathFor("out/run.jsonl", 0, "classic", 1)).toBe("out/run.jsonl")
    expect(eventsPathFor("out/run.jsonl", 1, "classic max_idle_time=300", 2)).toBe("out/run.2-classic_max_idle_time=300.jsonl")
  })

  it("durations read like durations", () => {
    expect([5, 99.94, 125, 7325, 200000].map(humanDuration)).toEqual(["5.0 s", "99.9 s", "2m 05s", "2h 02m", "2d 07h"])
  })

  it("the table has one column per run and every figure of the summary", () => {
    const s: Summary = {
      scenario: "x",
      policy: "classic",
      seed: 1,
      span: 3600,
      jobs: { submitted: 3, started: 2, finished: 1, killed: 1, skipped: 4 },
      wait: { mean: 1, p50: 2, p95: 3, max: 4 },
      resources: {
        os: { boots: 5, failed_boots: 1, peak_nodes: 2, node_hours: 1.5, core_hours: 6, useful_core_hours: 3, utilisation: 0.5, cost: 0.75 }
      },
      total: { boots: 5, failed_boots: 1, peak_nodes: 2, node_hours: 1.5, core_hours: 6, useful_core_hours: 3, utilisation: 0.5, cost: 0.75 },
      faults: 2,
      restarts: 1
    }
    const t = formatTable([{ label: "A", summary: s }, { label: "B", summary: { ...s, jobs: { ...s.jobs, killed: 9 } } }], "heading", "EUR")
    const row = (name: string) => t.split("\n").find((l) => l.trim().startsWith(name))!.trim().split(/\s{2,}/)
    expect(row("killed")).toEqual(["killed", "1", "9"])
    expect(row("p95")).toEqual(["p95", "3.0 s", "3.0 s"])
    expect(row("core-hours paid")).toEqual(["core-hours paid", "6.00", "6.00"])
    expect(row("useful core-hours")).toEqual(["useful core-hours", "3.00", "3.00"])
    expect(row("utilisation")).toEqual(["utilisation", "50.0 %", "50.0 %"])
    expect(row("cost")).toEqual(["cost (EUR)", "0.75", "0.75"])
    expect(formatTable([{ label: "A", summary: s }], "heading")).toMatch(/^ {2}cost \(units\) +0\.75$/m)
    expect(row("scaler restarts")).toEqual(["scaler restarts", "1", "1"])
    expect(row("simulated span")).toEqual(["simulated span", "1h 00m", "1h 00m"])
  })
})
