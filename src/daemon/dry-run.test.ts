/**
 * `dyncluster run --sim scenarios/demo.yaml --dry-run --decisions FILE` as a
 * process: the engine decides (provision decisions marked dry_run in
 * GET /server/decisions), the simulated world never sees a boot, a hold or a
 * join (its event log), /workernode lists only the physical nodes,
 * /server/status says dry_run, the would-be nodes retire by the idle rules,
 * and the decisions file feeds `dyncluster shadow-report`.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { BIN, REPO, startDyncluster, type Daemon } from "./testing/process.ts"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("dyncluster run --sim scenarios/demo.yaml --dry-run", () => {
  let d: Daemon | null = null
  afterAll(async () => {
    if (d !== null) {
      d.kill("SIGTERM")
      await Promise.race([d.exited, sleep(20_000)])
    }
  }, 30_000)

  it("decides without acting: only physical nodes, provision decisions dry_run, no boot in the world, a shadow report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-dry-"))
    const decisionsFile = join(dir, "decisions.jsonl")
    const eventsFile = join(dir, "events.jsonl")
    // 120 simulated seconds per real second: the demo's first jobs queue after a few simulated minutes
    d = startDyncluster([
      "run", "--sim", join(REPO, "scenarios/demo.yaml"), "--dry-run", "--speed", "120", "--port", "0", "--log-format", "json",
      "--decisions", decisionsFile, "--events", eventsFile
    ])
    const first = await d.waitForLine((l) => l.includes("dashboard at http://"), 60_000)
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(first)![1]
    const get = async (path: string) => (await fetch(`${url}${path}`)).json() as Promise<any>

    expect(await get("/server/status")).toMatchObject({ auto_mode: true, cluster: { sim: true }, dry_run: true })
    // until the would-be nodes of the first provisions have joined and retired (hold, remove) in the shadow
    let decisions: Array<any> = []
    const t0 = Date.now()
    const sawPhysicalOnly: Array<boolean> = []
    while (!decisions.some((e) => e.kind === "remove") && Date.now() - t0 < 90_000) {
      await sleep(500)
      decisions = (await get("/server/decisions?limit=10000")).decisions
      const nodes: Array<any> = await get("/workernode")
      sawPhysicalOnly.push(nodes.every((n) => n.type === "physical" && n.instance === null) && nodes.length === 2)
    }
    const provisions = decisions.filter((e) => e.kind === "provision")
    expect(provisions.length).toBeGreaterThan(0)
    for (const e of decisions) expect(e.dry_run).toBe(true)
    expect(provisions[0]).toMatchObject({ reason: "queued_jobs", dry_run: true })
    expect(decisions.map((e) => e.kind)).toEqual(expect.arrayContaining(["provision", "hold", "remove"]))
    expect(sawPhysicalOnly.length).toBeGreaterThan(0)
    expect(sawPhysicalOnly.every((x) => x)).toBe(true)
    // the would-be nodes are no repeat of one provision at every pass
    expect(provisions.length).toBeLessThan(decisions.filter((e) => e.kind === "hold").length + 3)
    const resources: Array<any> = await get("/resource")
    for (const r of resources) expect(r.current_num).toBe(0)
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toMatch(/^dyncluster_dry_run 1$/m)

    d.kill("SIGTERM")
    await Promise.race([d.exited, sleep(20_000)])
    d = null

    // the world never booted, held or joined a cloud node; jobs were submitted
    const events = readFileSync(eventsFile, "utf8").trim().split("\n").map((l) => JSON.parse(l).ev as string)
    expect(events).toContain("submit")
    for (const ev of ["boot", "join", "hold", "terminate", "active"]) expect(events).not.toContain(ev)

    const lines = readFileSync(decisionsFile, "utf8").trim().split("\n").map((l) => JSON.parse(l))
    expect(lines[0]).toMatchObject({ type: "start", mode: "sim", dry_run: true, boot_time: { os: 120, aws: 77 } })
    const fileProvisions = lines.filter((l) => l.type === "decision" && l.kind === "provision")
    // (the daemon ran on a little after the last look at the API)
    expect(fileProvisions.slice(0, provisions.length).map((l) => [l.t, l.resource, l.count])).toEqual(provisions.map((e) => [e.t, e.resource, e.count]))
    for (const l of lines.filter((l) => l.type === "decision")) expect(l.dry_run).toBe(true)
    expect(lines.some((l) => l.type === "job_queued")).toBe(true)

    const report = JSON.parse(execFileSync(process.execPath, [BIN, "shadow-report", "--json", decisionsFile], { encoding: "utf8" }))
    const booted = Object.values(report.resources as Record<string, { boots: number }>).reduce((a, r) => a + r.boots, 0)
    expect(booted).toBe(fileProvisions.reduce((a, l) => a + l.count, 0))
    expect(report.dry_run).toBe(true)
    expect(report.jobs.observed).toBeGreaterThan(0)
    expect(report.jobs.would_be_wait.mean).toBeLessThanOrEqual(report.jobs.real_wait.mean)
  }, 180_000)
})
