import { Either } from "effect"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { runScenario } from "./run.ts"
import { applySet, decodeScenario, loadScenarioFile, parseSetValue, type LoadedScenario, type ScenarioError } from "./scenario.ts"

const SCENARIOS = fileURLToPath(new URL("../../scenarios/", import.meta.url))
const TRACES = fileURLToPath(new URL("../../../shared/traces/", import.meta.url))
const haveTraces = existsSync(TRACES)
if (!haveTraces) console.warn(`scenario.test: ${TRACES} not found: the trace scenarios are not decoded`)

const files = readdirSync(SCENARIOS).filter((f) => f.endsWith(".yaml"))
const isTrace = (f: string) => /type: swf/.test(readFileSync(join(SCENARIOS, f), "utf8"))

const ok = (r: Either.Either<LoadedScenario, ScenarioError>): LoadedScenario => {
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}
const problems = (r: Either.Either<LoadedScenario, ScenarioError>): ReadonlyArray<string> => {
  if (Either.isRight(r)) throw new Error("expected the scenario to be refused")
  return r.left.problems
}

const tmp = mkdtempSync(join(tmpdir(), "scenario-test-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** A small valid scenario document; tests change one thing at a time. */
const base = (): Record<string, any> => ({
  name: "t",
  seed: 3,
  config: {
    "dynamic-cluster": { cluster_poller_interval: 10 },
    cluster: { type: "simulated" },
    cloud: {
      os: { type: "simulated", quantity: { max: 4 }, config: { instance_name_prefix: "vm" } },
      aws: { type: "simulated", priority: 2, quantity: { max: 2 }, price: 0.5 }
    }
  },
  cluster: { physical: [{ hostname: "p1", cores: 4 }], scheduler_cycle: 10 },
  clouds: { os: { cores: 4 }, aws: { cores: 8, boot_time: { type: "uniform", min: 30, max: 60 } } },
  workload: {
    type: "jobs",
    jobs: [
      { submit: 0, cores: 4, cpn: 4, runtime: 600 },
      { submit: 100, cores: 8, cpn: 4, runtime: 300 }
    ]
  },
  drain: 600
})
const decode = (doc: unknown, seed?: number) => decodeScenario(doc, { baseDir: tmp, source: "test.yaml", ...(seed !== undefined ? { seed } : {}) })

describe("the scenario files in scenarios/", () => {
  it("has the scenarios the docs list", () => {
    for (const f of ["quickstart.yaml", "burst.yaml", "outage.yaml", "demo.yaml"]) expect(files).toContain(f)
    expect(files.filter(isTrace).length).toBeGreaterThanOrEqual(5)
    const readme = readFileSync(join(SCENARIOS, "README.md"), "utf8")
    for (const f of files) expect(readme, `${f} is documented in scenarios/README.md`).toContain(f)
  })

  for (const f of files) {
    const trace = isTrace(f)
    it.skipIf(trace && !haveTraces)(`${f} decodes without problems or warnings`, () => {
      const s = ok(loadScenarioFile(join(SCENARIOS, f)))
      expect(s.warnings).toEqual([])
      expect(s.world.jobs.length).toBeGreaterThan(0)
      expect(s.world.resources.length).toBeGreaterThan(0)
      expect(s.name).toBe(f.replace(/\.yaml$/, ""))
    })
  }
})

describe("decoding", () => {
  it("names a scenario file that cannot be read, and a YAML syntax error with its line", () => {
    const missing = join(tmp, "does-not-exist.yaml")
    expect(problems(loadScenarioFile(missing))).toEqual([`${missing}: no such file`])
    writeFileSync(join(tmp, "syntax.yaml"), "name: x\nclouds: {os: {cores: 4}\nworkload: 1\n")
    expect(problems(loadScenarioFile(join(tmp, "syntax.yaml")))[0]).toMatch(/^YAML syntax error: .*line \d+/)
  })

  it("builds the world: physical groups, resources in config order, defaults, price from either side", () => {
    const doc = base()
    doc.cluster.physical = [{ hostname: "p1", cores: 4 }, { count: 3, cores: 2, prefix: "n", properties: ["fast"] }]
    const s = ok(decode(doc))
    expect(s.world.physical.map((p) => p.hostname)).toEqual(["p1", "n01", "n02", "n03"])
    expect(s.world.physical[1].properties).toEqual(["fast"])
    expect(s.world.resources.map((r) => [r.name, r.prefix, r.cores, r.price])).toEqual([
      ["os", "vm", 4, null],
      ["aws", "aws", 8, 0.5]
    ])
    expect(s.world.resources[0].bootTime).toEqual({ type: "constant", value: 120 })
    expect(s.world.resources[1].bootTime).toEqual({ type: "uniform", min: 30, max: 60 })
    expect(s.world.drain).toBe(600)
    expect(s.world.maxTime).toBeNull()
    expect(s.seed).toBe(3)
    expect(s.apiLatency).toBe(1)
    expect(s.expectedEnd).toBe(600 + 600) // the latest submit + runtime, then the drain
  })

  it("report.currency names the cost's unit in reports (absent: the report's default)", () => {
    expect(ok(decode(base())).currency).toBeNull()
    const doc = base()
    doc.report = { currency: "EUR" }
    expect(ok(decode(doc)).currency).toBe("EUR")
    doc.report = { currency: 3 }
    expect(problems(decode(doc))).toContain("report.currency: expected a string, got 3")
  })

  it("takes a single physical group without a list, and a seed override", () => {
    const doc = base()
    doc.cluster.physical = { count: 2, cores: 8 }
    const s = ok(decode(doc, 99))
    expect(s.world.physical.map((p) => p.hostname)).toEqual(["node01", "node02"])
    expect(s.seed).toBe(99)
  })

  it("reports a wrong type with its key path, every problem at once", () => {
    const doc = base()
    doc.seed = "x"
    doc.clouds.os.cores = "four"
    doc.clouds.aws.boot_time = { type: "lognormal", median: -1, sigma: 1 }
    doc.config.cloud.os.quantity.max = "three"
    const p = problems(decode(doc))
    expect(p).toContain('seed: expected an integer, got "x"')
    expect(p).toContain('clouds.os.cores: expected a positive integer, got "four"')
    expect(p).toContain("clouds.aws.boot_time.median: expected a positive number, got -1")
    expect(p).toContain('config.cloud.os.quantity.max: expected a non-negative integer, got "three"')
    // the bare-number alternative of a distribution is not reported as noise
    expect(p.some((l) => l.startsWith("clouds.aws.boot_time: "))).toBe(false)
  })

  it("says what a distribution may be when it is not one", () => {
    const doc = base()
    doc.clouds.os.boot_time = "fast"
    const [line] = problems(decode(doc))
    expect(line).toMatch(/^clouds\.os\.boot_time: expected a number or a distribution .*lognormal.*, got "fast"$/)
  })

  it("refuses an unknown policy, naming the known ones", () => {
    const doc = base()
    doc.config["dynamic-cluster"].policy = "greedy"
    const p = problems(decode(doc))
    expect(p).toHaveLength(1)
    expect(p[0]).toMatch(/^config\.dynamic-cluster\.policy: unknown policy "greedy" \(known: .*classic.*\)$/)
  })

  it("refuses an unknown policy even when the configuration has other errors", () => {
    const doc = base()
    doc.config["dynamic-cluster"].policy = "greedy"
    doc.config["dynamic-cluster"].max_idle_time = "long"
    const p = problems(decode(doc))
    expect(p.some((l) => l.startsWith('config.dynamic-cluster.policy: unknown policy "greedy"'))).toBe(true)
    expect(p.some((l) => l.startsWith("config.dynamic-cluster.max_idle_time:"))).toBe(true)
  })

  it("refuses a resource in clouds that the configuration does not have, and a missing one", () => {
    const doc = base()
    doc.clouds.gcp = { cores: 2 }
    delete doc.clouds.aws
    const p = problems(decode(doc))
    expect(p).toContain("clouds.gcp: no cloud resource gcp in the configuration (it has: os, aws)")
    expect(p.some((l) => l.startsWith("clouds.aws: is required but missing"))).toBe(true)
  })

  it("refuses a fault on an unknown resource and a restart with neither at nor random", () => {
    const doc = base()
    doc.faults = [{ kind: "outage", resource: "gcp", at: 10, duration: 10 }, { kind: "restart" }, { kind: "melt", at: 1 }]
    const p = problems(decode(doc))
    expect(p).toContain("faults.0.resource: no cloud resource gcp (known: os, aws)")
    expect(p.some((l) => l.startsWith("faults.1: a restart needs at"))).toBe(true)
    expect(p.some((l) => l.startsWith('faults.2.kind: expected "outage" or'))).toBe(true)
  })

  it("needs config or config_file, not both", () => {
    const doc = base()
    delete doc.config
    expect(problems(decode(doc))[0]).toMatch(/^config: is required but missing/)
    doc.config = base().config
    doc.config_file = "x.yaml"
    expect(problems(decode(doc))).toContain("config_file: give either config (inline) or config_file, not both")
  })

  it("reads config_file relative to the scenario file, with warnings for non-simulated types", () => {
    const dir = mkdtempSync(join(tmp, "cf-"))
    writeFileSync(
      join(dir, "dc.yaml"),
      "cluster: {type: torque}\ncloud:\n  os: {type: openstack, quantity: {max: 2}, config: {auth_url: 'http://x'}}\n"
    )
    const doc = base()
    delete doc.config
    doc.config_file = "dc.yaml"
    delete doc.clouds.aws
    writeFileSync(join(dir, "s.yaml"), JSON.stringify(doc))
    const s = ok(loadScenarioFile(join(dir, "s.yaml")))
    expect(s.config.cloud.os.quantity.max).toBe(2)
    expect(s.warnings).toContain("config.cluster.type: torque is replaced by the simulated batch system of this scenario")
    expect(s.warnings).toContain("config.cloud.os.type: openstack is replaced by the simulated cloud clouds.os")
    doc.config_file = "nope.yaml"
    writeFileSync(join(dir, "s.yaml"), JSON.stringify(doc))
    expect(problems(loadScenarioFile(join(dir, "s.yaml")))[0]).toBe(`config_file: configuration file not found: ${join(dir, "nope.yaml")}`)
  })

  it("refuses unknown keys, also inside the workload and distributions, with a suggestion", () => {
    const doc = base()
    doc.colour = "red"
    doc.clouds.os.boot_tme = 3
    doc.clouds.aws.boot_time = { type: "choice", values: [30, 60], wieghts: [1, 1] }
    doc.config["dynamic-cluster"].max_idel_time = 3
    doc.cluster = { schedular_cycle: 5 }
    expect(problems(decode(doc))).toEqual([
      "cluster.schedular_cycle: unknown key (did you mean scheduler_cycle?)",
      "clouds.os.boot_tme: unknown key (did you mean boot_time?)",
      "clouds.aws.boot_time.wieghts: unknown key (did you mean weights?)",
      "colour: unknown key",
      "config.dynamic-cluster.max_idel_time: unknown key (did you mean max_idle_time?)"
    ])
    const s = ok(decodeScenario(doc, { baseDir: tmp, source: "test.yaml", allowUnknownKeys: true }))
    expect(s.warnings).toEqual([
      "cluster.schedular_cycle: unknown key (did you mean scheduler_cycle?), ignored",
      "clouds.os.boot_tme: unknown key (did you mean boot_time?), ignored",
      "clouds.aws.boot_time.wieghts: unknown key (did you mean weights?), ignored",
      "colour: unknown key, ignored",
      "config.dynamic-cluster.max_idel_time: unknown key (did you mean max_idle_time?), ignored"
    ])
  })

  it("a synthetic workload with every kind of distribution has no unknown keys", () => {
    const doc = base()
    doc.workload = {
      type: "synthetic",
      jobs: 10,
      arrival: { type: "exponential", mean: 60 },
      cores: { type: "choice", values: [1, 2], weights: [1, 1] },
      runtime: { type: "normal", mean: 100, sd: 10, min: 1 },
      priority: { type: "uniform", min: 0, max: 1 }
    }
    expect(ok(decode(doc)).warnings).toEqual([])
  })

  it("refuses jobs that could never start unless max_time bounds the run", () => {
    const doc = base()
    doc.workload.jobs.push({ id: "huge", submit: 5, cores: 64, cpn: 4, runtime: 10 })
    const [line] = problems(decode(doc))
    expect(line).toMatch(/^workload: 1 job\(s\) can never start.*job huge \(64 core\(s\), 4 per node\)/)
    doc.max_time = 5000
    const s = ok(decode(doc))
    expect(s.warnings[0]).toMatch(/can never start/)
    expect(s.world.maxTime).toBe(5000)
  })

  it("warns about jobs that no single resource can hold (classic never provisions for them)", () => {
    const doc = base()
    doc.workload.jobs.push({ id: "wide", submit: 5, cores: 24, cpn: 4, runtime: 10 }) // 4 + 16 + 16 cores in all, 16 at most in one
    const s = ok(decode(doc))
    expect(s.warnings).toHaveLength(1)
    expect(s.warnings[0]).toMatch(/^workload: 1 job\(s\) fit no single cloud resource .*job wide \(24 core\(s\), 4 per node\)/)
  })

  it("draws random restarts from the seed, inside the workload's span", () => {
    const doc = base()
    doc.faults = [{ kind: "restart", random: 3 }, { kind: "restart", at: 50 }]
    const a = ok(decode(doc))
    const b = ok(decode(doc))
    const c = ok(decode(doc, 4))
    expect(a.randomRestarts).toHaveLength(3)
    expect(a.randomRestarts).toEqual(b.randomRestarts)
    expect(c.randomRestarts).not.toEqual(a.randomRestarts)
    for (const t of a.randomRestarts) {
      expect(t).toBeGreaterThanOrEqual(0)
      expect(t).toBeLessThanOrEqual(600)
    }
    expect(a.world.faults.filter((f) => f.kind === "restart").map((f) => f.at)).toEqual([50, ...a.randomRestarts])
    expect(runScenario(a, { collect: false }).summary.restarts).toBe(4)
  })
})

describe("workload sources", () => {
  const swfLine = (id: number, submit: number, procs: number) => `${id} ${submit} 0 100 ${procs} -1 -1 ${procs} 200 -1 1 1 1 1 1 -1 -1 -1`

  it("a missing trace file is named", () => {
    const doc = base()
    doc.workload = { type: "swf", file: "no-such-trace.swf.gz" }
    expect(problems(decode(doc))).toEqual([`workload.file: trace file not found: ${join(tmp, "no-such-trace.swf.gz")}`])
  })

  it("a corrupt SWF line is reported with its line number", () => {
    writeFileSync(join(tmp, "corrupt.swf"), ["; a header", swfLine(1, 0, 4), swfLine(2, 10, 4).replace(" 200 ", " 2x0 ")].join("\n") + "\n")
    const doc = base()
    doc.workload = { type: "swf", file: "corrupt.swf" }
    const [line] = problems(decode(doc))
    expect(line).toBe(`workload.file: ${join(tmp, "corrupt.swf")}:3: field 9 is not a number: "2x0"`)
  })

  it("reads a trace relative to the scenario's directory, with the cores_per_node mapping", () => {
    writeFileSync(join(tmp, "small.swf"), [swfLine(1, 1000, 4), swfLine(2, 1010, 6), "3 1020 0 -1 2 -1 -1 2 200 -1 1 1 1 1 1 -1 -1 -1"].join("\n") + "\n")
    const doc = base()
    doc.workload = { type: "swf", file: "small.swf", cores_per_node: 4 }
    const s = ok(decode(doc))
    expect(s.world.jobs.map((j) => [j.id, j.submit, j.cores, j.cpn])).toEqual([
      ["1", 0, 4, 4],
      ["2", 10, 6, 4]
    ])
    expect(s.skippedJobs).toBe(1)
    expect(s.workloadSource).toBe(`swf:${join(tmp, "small.swf")}`)
  })

  it("a bad synthetic spec names the key", () => {
    const doc = base()
    doc.workload = { type: "synthetic", jobs: 5, arrival: { type: "poisson", rate_per_hour: -1 }, cores: 1, runtime: 10 }
    expect(problems(decode(doc))).toEqual(["workload.arrival.rate_per_hour: expected a positive number, got -1"])
  })

  it("an unknown workload type is named", () => {
    const doc = base()
    doc.workload = { type: "csv", file: "x" }
    expect(problems(decode(doc))[0]).toBe('workload.type: expected "swf" or "synthetic" or "jobs", got "csv"')
  })
})

describe("--set overrides", () => {
  it("sets nested keys, creating mappings, indexing lists, with YAML values", () => {
    const doc = base()
    const r1 = applySet(doc, "config.dynamic-cluster.max_idle_time", parseSetValue("300"), tmp)
    const r2 = Either.flatMap(r1, (d) => applySet(d, "clouds.os.boot_time", parseSetValue("{type: uniform, min: 1, max: 2}"), tmp))
    const r3 = Either.flatMap(r2, (d) => applySet(d, "workload.jobs.1.runtime", parseSetValue("42"), tmp))
    const d = Either.getOrThrow(r3) as Record<string, any>
    expect(d.config["dynamic-cluster"].max_idle_time).toBe(300)
    expect(d.clouds.os.boot_time).toEqual({ type: "uniform", min: 1, max: 2 })
    expect(d.workload.jobs[1].runtime).toBe(42)
    expect(doc.config["dynamic-cluster"].max_idle_time).toBeUndefined() // the input is not changed
    expect(ok(decode(d)).config["dynamic-cluster"].max_idle_time).toBe(300)
  })

  it("refuses a path through a scalar or past the end of a list", () => {
    const e = applySet(base(), "seed.x", 1, tmp)
    expect(Either.isLeft(e) && e.left).toBe("--set seed.x: seed is 3, not a mapping or list")
    expect(Either.isLeft(applySet(base(), "workload.jobs.7.runtime", 1, tmp))).toBe(true)
    expect(Either.isLeft(applySet(base(), "a..b", 1, tmp))).toBe(true)
  })

  it("copies a config_file into the document when a config key is set", () => {
    const dir = mkdtempSync(join(tmp, "set-"))
    writeFileSync(join(dir, "dc.yaml"), "cluster: {type: simulated}\ncloud:\n  os: {type: simulated, quantity: {max: 2}}\n")
    const doc = base()
    delete doc.config
    delete doc.clouds.aws
    doc.config_file = "dc.yaml"
    const d = Either.getOrThrow(applySet(doc, "config.cloud.os.quantity.max", 5, dir)) as Record<string, any>
    expect(d.config_file).toBeUndefined()
    expect(ok(decodeScenario(d, { baseDir: dir })).config.cloud.os.quantity.max).toBe(5)
    expect(parse(readFileSync(join(dir, "dc.yaml"), "utf8")).cloud.os.quantity.max).toBe(2)
  })
})
