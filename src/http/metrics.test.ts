import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { Snapshot } from "../engine/api.ts"
import { NodeState } from "../model/types.ts"
import { makeCycleHistogram, renderMetrics } from "./metrics.ts"
import { makeFakeEngine } from "./testing/fakeEngine.ts"
import { parseExposition, sampleValue } from "./testing/promFormat.ts"

const snapshot = (): Snapshot => Effect.runSync(makeFakeEngine().snapshot)

const findPromtool = (): string | null => {
  for (const p of ["/usr/bin/promtool", "/usr/local/bin/promtool"]) if (existsSync(p)) return p
  const r = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" })
  return r.status === 0 && r.stdout.trim() !== "" ? r.stdout.trim() : null
}

describe("renderMetrics", () => {
  it("is valid exposition text (strict TS reader)", () => {
    const h = makeCycleHistogram()
    h.observe(0.003)
    h.observe(0.2)
    const e = parseExposition(renderMetrics(snapshot(), { cycleHistogram: h }))
    expect(e.problems).toEqual([])
    expect(e.types.get("dyncluster_nodes")).toBe("gauge")
    expect(e.types.get("dyncluster_boots_total")).toBe("counter")
    expect(e.types.get("dyncluster_engine_cycle_seconds")).toBe("histogram")
  })

  it("counts nodes and cores by lower-case state and resource, physical included, zeros too", () => {
    const e = parseExposition(renderMetrics(snapshot()))
    const v = (name: string, state: string, resource: string) => sampleValue(e, name, { state, resource })
    expect(v("dyncluster_nodes", "idle", "os-res")).toBe(1)
    expect(v("dyncluster_nodes", "busy", "os-res")).toBe(1)
    expect(v("dyncluster_nodes", "held", "os-res")).toBe(1)
    expect(v("dyncluster_nodes", "starting", "aws-res")).toBe(1)
    expect(v("dyncluster_nodes", "error", "aws-res")).toBe(1)
    expect(v("dyncluster_nodes", "busy", "physical")).toBe(1)
    expect(v("dyncluster_cores", "busy", "physical")).toBe(16)
    expect(v("dyncluster_cores", "error", "aws-res")).toBe(2)
    expect(v("dyncluster_nodes", "deleting", "os-res")).toBe(0)
    // 8 states × 3 resources (os-res, aws-res, physical)
    expect(e.samples.filter((s) => s.name === "dyncluster_nodes")).toHaveLength(24)
  })

  it("reports jobs, task queues, counters, backoff and auto mode", () => {
    const s = snapshot()
    const e = parseExposition(renderMetrics({ ...s, status: { ...s.status, auto_mode: false } }))
    expect(sampleValue(e, "dyncluster_queued_jobs")).toBe(4)
    expect(sampleValue(e, "dyncluster_cloud_tasks", { kind: "waiting" })).toBe(1)
    expect(sampleValue(e, "dyncluster_cloud_tasks", { kind: "running" })).toBe(2)
    expect(sampleValue(e, "dyncluster_cloud_tasks", { kind: "results_pending" })).toBe(0)
    expect(sampleValue(e, "dyncluster_boots_total", { resource: "aws-res" })).toBe(4)
    expect(sampleValue(e, "dyncluster_boot_failures_total", { resource: "aws-res" })).toBe(3)
    expect(sampleValue(e, "dyncluster_boot_failures_total", { resource: "os-res" })).toBe(0)
    expect(sampleValue(e, "dyncluster_destroys_total", { resource: "os-res" })).toBe(2)
    expect(sampleValue(e, "dyncluster_spot_interruptions_total", { resource: "aws-res" })).toBe(1)
    expect(sampleValue(e, "dyncluster_spot_interruptions_total", { resource: "os-res" })).toBe(0)
    expect(sampleValue(e, "dyncluster_resource_backoff_seconds", { resource: "aws-res" })).toBe(90)
    expect(sampleValue(e, "dyncluster_resource_backoff_seconds", { resource: "os-res" })).toBe(0)
    expect(sampleValue(e, "dyncluster_auto_mode")).toBe(0)
    expect(sampleValue(e, "dyncluster_cluster_up", { part: "torque" })).toBe(1)
  })

  it("names the policy in effect (not in the seed's /server/status)", () => {
    const e = parseExposition(renderMetrics({ ...snapshot(), policy: "lean" }))
    expect(e.problems).toEqual([])
    expect(sampleValue(e, "dyncluster_policy_info", { policy: "lean" })).toBe(1)
    expect(e.samples.filter((s) => s.name === "dyncluster_policy_info")).toHaveLength(1)
  })

  it("reports boot failures in a row behind the back-off", () => {
    const e = parseExposition(renderMetrics(snapshot()))
    expect(e.types.get("dyncluster_resource_consecutive_boot_failures")).toBe("gauge")
    expect(sampleValue(e, "dyncluster_resource_consecutive_boot_failures", { resource: "aws-res" })).toBe(3)
    expect(sampleValue(e, "dyncluster_resource_consecutive_boot_failures", { resource: "os-res" })).toBe(0)
  })

  it("reports whether each cloud accepts the credentials (live mode's status.clouds), and nothing without it", () => {
    const s = snapshot()
    const clouds = {
      "os-res": { auth: false, error: "authenticate: Keystone refused the credentials", since: s.time - 30 },
      "aws-res": { auth: true, error: null, since: null }
    }
    const text = renderMetrics({ ...s, status: { ...s.status, clouds } })
    const e = parseExposition(text)
    expect(e.problems).toEqual([])
    expect(e.types.get("dyncluster_cloud_auth_ok")).toBe("gauge")
    expect(sampleValue(e, "dyncluster_cloud_auth_ok", { resource: "os-res" })).toBe(0)
    expect(sampleValue(e, "dyncluster_cloud_auth_ok", { resource: "aws-res" })).toBe(1)
    expect(text).not.toContain("Keystone")
    expect(parseExposition(renderMetrics(s)).types.has("dyncluster_cloud_auth_ok")).toBe(false)
  })

  it("escapes label values and stays valid with awkward resource names", () => {
    const s = snapshot()
    const name = 'we"ird\\res\nname'
    const nodes = s.nodes.map((n) =>
      n.instance === null ? n : { ...n, instance: { ...n.instance, cloud_resource: name } }
    )
    const text = renderMetrics({ ...s, nodes, resources: [], counters: { ...s.counters, boots: { [name]: 1 } } })
    expect(text).toContain('resource="we\\"ird\\\\res\\nname"')
    const e = parseExposition(text)
    expect(e.problems).toEqual([])
    expect(sampleValue(e, "dyncluster_nodes", { state: "idle", resource: name })).toBe(1)
  })

  it("an empty engine still renders every family", () => {
    const s = snapshot()
    const e = parseExposition(
      renderMetrics({
        ...s,
        nodes: [],
        jobs: [],
        resources: [],
        backoff: [],
        status: { auto_mode: true, cluster: {}, dry_run: false },
        counters: { boots: {}, boot_failures: {}, destroys: {}, spot_interruptions: {}, cycles: 0 }
      })
    )
    expect(e.problems).toEqual([])
    expect(sampleValue(e, "dyncluster_nodes", { state: "idle", resource: "physical" })).toBe(0)
    expect(sampleValue(e, "dyncluster_engine_cycle_seconds_count")).toBe(0)
  })

  it("counts a node state's cores from num_proc", () => {
    const s = snapshot()
    const nodes = s.nodes.map((n) => (n.state === NodeState.Idle ? { ...n, num_proc: 8 } : n))
    const e = parseExposition(renderMetrics({ ...s, nodes }))
    expect(sampleValue(e, "dyncluster_cores", { state: "idle", resource: "os-res" })).toBe(8)
  })
})

describe("makeCycleHistogram", () => {
  it("keeps cumulative buckets, sum and count; +Inf equals count", () => {
    const h = makeCycleHistogram([0.1, 1, 0.01])
    for (const v of [0.005, 0.05, 0.5, 5, 0.1]) h.observe(v)
    h.observe(-1)
    h.observe(NaN)
    const st = h.state()
    expect(st.buckets).toEqual([0.01, 0.1, 1])
    expect(st.cumulative).toEqual([1, 3, 4])
    expect(st.count).toBe(5)
    expect(st.sum).toBeCloseTo(5.655)
    const e = parseExposition(h.render())
    expect(e.problems).toEqual([])
    expect(sampleValue(e, "dyncluster_engine_cycle_seconds_bucket", { le: "0.1" })).toBe(3)
    expect(sampleValue(e, "dyncluster_engine_cycle_seconds_bucket", { le: "+Inf" })).toBe(5)
    expect(sampleValue(e, "dyncluster_engine_cycle_seconds_count")).toBe(5)
  })
})

describe("the strict exposition reader rejects broken text", () => {
  it.each([
    ["no TYPE", "# HELP a x\na 1\n"],
    ["counter without _total", "# HELP a x\n# TYPE a counter\na 1\n"],
    ["bad value", "# HELP a x\n# TYPE a gauge\na one\n"],
    ["bad escape", '# HELP a x\n# TYPE a gauge\na{l="\\t"} 1\n'],
    ["duplicate series", "# HELP a x\n# TYPE a gauge\na 1\na 2\n"],
    ["no final newline", "# HELP a x\n# TYPE a gauge\na 1"],
    [
      "non-cumulative histogram",
      '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
    ],
    ["interleaved families", "# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\nb 1\na 1\n"]
  ])("%s", (_, text) => {
    expect(parseExposition(text).problems.length).toBeGreaterThan(0)
  })
})

describe("promtool", () => {
  const promtool = findPromtool()
  const required = process.env.CI === "true"
  const title =
    promtool === null
      ? "promtool check metrics (SKIPPED: promtool not installed; apt-get install -y prometheus)"
      : "promtool check metrics accepts the output (lint included)"

  it.skipIf(promtool === null && !required)(title, () => {
    if (promtool === null) {
      throw new Error("promtool not found: install it with `apt-get install -y prometheus` (required when CI=true)")
    }
    const h = makeCycleHistogram()
    h.observe(0.02)
    const s = snapshot()
    const clouds = { "os-res": { auth: false, error: "authenticate: refused", since: s.time - 30 }, "aws-res": { auth: true, error: null, since: null } }
    const r = spawnSync(promtool, ["check", "metrics"], {
      input: renderMetrics({ ...s, status: { ...s.status, clouds } }, { cycleHistogram: h }),
      encoding: "utf8"
    })
    expect(r.error).toBeUndefined()
    expect(`${r.stdout}${r.stderr}`.trim()).toBe("")
    expect(r.status).toBe(0)
  })
})
