/**
 * Shadow mode against the real batch systems of this machine
 * (ci/setup-*-sge.sh, ci/setup-30-slurm.sh): `dyncluster run --config FILE
 * --dry-run --decisions FILE` with a simulated cloud resource, jobs queued
 * that need a cloud node. The scaler decides to provision (decisions marked
 * dry_run, in the API and the file), its would-be nodes join and retire in
 * the shadow only, and meanwhile the batch system's nodes do not change and
 * the cloud is never asked to boot. Each part skips visibly when its batch
 * system is absent, and fails under CI=true.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, expect, it } from "vitest"
import { apiGet, dashboardUrl, sleep, stopDaemon } from "../daemon/testing/e2e.ts"
import { startDyncluster, type Daemon } from "../daemon/testing/process.ts"
import { describeWithSge, qconf, qsub, runPrefix, sgeClusterYaml, sgeDaemonSuite } from "./sge/testing.ts"
import { cleanupSlurm, describeWithSlurm, sbatch, scancel, scontrol, sinfoNodes, slurmEnv } from "./slurm/testing/env.ts"

const RES = "shadowres"

const engineSection = (extra: ReadonlyArray<string> = []) => [
  "dynamic-cluster:",
  "  policy: classic",
  "  cluster_poller_interval: 1",
  "  cloud_poller_interval: 1",
  "  auto_provision_interval: 1",
  "  max_idle_time: 2",
  "  max_launch_time: 120",
  "  worker_thread_number: 2",
  ...extra
]

const cloudSection = (prefix: string, cores: number) => [
  "cloud:",
  `  ${RES}:`,
  "    type: simulated",
  "    quantity: {min: 0, max: 2}",
  "    config:",
  `      instance_name_prefix: ${prefix}`,
  `      cores: ${cores}`,
  "      boot_time: 1",
  ""
]

/**
 * Runs the daemon in shadow mode until a would-be node has been provisioned
 * and retired (a `remove` decision), sampling the batch system's nodes all
 * along; returns the samples, the decisions and the decisions file's lines.
 */
const shadowRun = async (
  dir: string,
  config: string,
  nodes: () => string,
  env: Record<string, string>,
  keep: (d: Daemon) => void
) => {
  const cfg = join(dir, "shadow.yaml")
  writeFileSync(cfg, config)
  const file = join(dir, "decisions.jsonl")
  const before = nodes()
  const d = startDyncluster(["run", "--config", cfg, "--dry-run", "--boot-time", "2", "--decisions", file, "--port", "0", "--log-format", "json", "--log-level", "debug"], env)
  keep(d)
  const get = apiGet(await dashboardUrl(d))
  const samples: Array<string> = []
  let decisions: Array<any> = []
  const t0 = Date.now()
  while (!decisions.some((e) => e.kind === "remove") && Date.now() - t0 < 150_000) {
    await sleep(500)
    samples.push(nodes())
    decisions = (await get("/server/decisions?limit=10000")).decisions
  }
  const status = await get("/server/status")
  const workernodes: Array<any> = await get("/workernode")
  await stopDaemon(d)
  samples.push(nodes())
  const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l))
  return { before, samples, decisions, status, workernodes, lines, stdout: d.stdout }
}

const expectShadowed = (r: Awaited<ReturnType<typeof shadowRun>>) => {
  expect(r.status.dry_run).toBe(true)
  const kinds = r.decisions.map((e) => e.kind)
  expect(kinds, `decisions: ${JSON.stringify(r.decisions.map((e) => e.message))}\nlog tail:\n${r.stdout.slice(-10).join("\n")}`).toEqual(
    expect.arrayContaining(["provision", "hold", "remove"])
  )
  for (const e of r.decisions) expect(e.dry_run).toBe(true)
  // the batch system's nodes never changed
  for (const s of r.samples) expect(s).toBe(r.before)
  // no would-be node in /workernode, and the cloud was never asked to boot
  expect(r.workernodes.filter((n) => n.instance !== null)).toEqual([])
  expect(r.stdout.some((l) => l.includes(`simulated cloud ${RES}: boot`))).toBe(false)
  expect(r.lines[0]).toMatchObject({ type: "start", mode: "live", dry_run: true, boot_time: { [RES]: 2 } })
  expect(r.lines.some((l) => l.type === "decision" && l.kind === "provision" && l.dry_run === true)).toBe(true)
  expect(r.lines.some((l) => l.type === "job_queued")).toBe(true)
}

describeWithSlurm("shadow mode against the real Slurm", () => {
  const prefix = "dcshadow"
  const jobs: Array<string> = []
  let d: Daemon | null = null
  let dir = ""
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "dc-shadow-slurm-"))
    cleanupSlurm({ prefix })
  })
  afterAll(async () => {
    if (d !== null) await stopDaemon(d)
    scancel(jobs)
    cleanupSlurm({ prefix, jobs })
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it("decides to grow for queued sbatch jobs, but Slurm's nodes stay as they were", async () => {
    jobs.push(sbatch(["-p", "dyn", "-J", "shadow-a", "-n", "2", "--wrap", "sleep 30"]))
    const config = [
      ...engineSection(),
      "cluster:",
      "  type: slurm",
      "  config:",
      "    queue_to_monitor: [dyn]",
      "    poll_interval: 0.5",
      ...cloudSection(prefix, 2)
    ].join("\n")
    // every node with its state and partitions, and every node the controller knows (also future ones)
    const nodes = () =>
      JSON.stringify(sinfoNodes().map((n) => [n.name, n.state, n.partitions.join(",")]).sort()) +
      (scontrol(["--future", "show", "node", "-o"]).stdout.match(/^NodeName=\S+/gm) ?? []).sort().join(" ")
    const r = await shadowRun(dir, config, nodes, slurmEnv, (x) => (d = x))
    d = null
    expectShadowed(r)
    expect(r.lines.some((l) => l.type === "job_queued" && l.job === jobs[0])).toBe(true)
  }, 240_000)
})

describeWithSge("shadow mode against the real Grid Engine", () => {
  const prefix = runPrefix("dcs")
  const suite = sgeDaemonSuite("dcshadow")
  const { jobs } = suite

  it("decides to grow for a queued qsub job, but Grid Engine's exec hosts and host group stay as they were", async () => {
    const { tb, dir } = suite
    jobs.push(qsub({ queue: tb.queue, seconds: 30, pe: 2, name: "shadow" }))
    const config = [
      ...engineSection(),
      ...sgeClusterYaml(tb),
      ...cloudSection(prefix, 2).map((l) => l.replace("quantity: {min: 0, max: 2}", `quantity: {min: 0, max: 2}\n    reservation: {queue: ${tb.queue}}`))
    ].join("\n")
    const nodes = () => `${qconf("-sel").split("\n").sort().join(" ")} | ${qconf("-shgrp", tb.group).replace(/\s+/g, " ")}`
    const r = await shadowRun(dir, config, nodes, {}, (x) => (suite.daemon = x))
    suite.daemon = null
    expectShadowed(r)
    expect(r.lines.some((l) => l.type === "job_queued" && l.job === jobs[0])).toBe(true)
  }, 240_000)
})
