/**
 * Slurm's own power saving with dyncluster as its ResumeProgram and
 * SuspendProgram, run by the real slurmctld (ci/setup-30-slurm.sh: State=CLOUD
 * nodes cloud[1-2], SuspendTime 10 s, and resume.sh/suspend.sh that hand over
 * to $SLURM_LOCAL_DIR/etc/power-hook, which this test writes). The hook runs
 * the same slurm-resume/slurm-suspend commands as `dyncluster` does
 * (testing/power-main.ts), booting through the network-namespace Cloud.
 *
 * Two jobs that need a whole node each: Slurm powers up cloud1 and cloud2.
 * cloud2's boot fails (no capacity): slurm-resume puts it DOWN and Slurm
 * requeues its job. cloud1's VM boots, its slurmd registers, the job runs
 * inside the VM, and SuspendTime after the job the node is suspended and its
 * VM destroyed.
 */
import { Effect, Either } from "effect"
import { spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, expect, it } from "vitest"
import { readPowerState } from "./power.ts"
import { makeNetnsCloud } from "./testing/netnsCloud.ts"
import { describeWithSlurm, PROJECT_ROOT, sbatch, scancel, scontrol, SLURM_DIR, VM_SCRIPT, vmNamespaces } from "./testing/env.ts"

const PREFIX = "dcp"
const HOOK = `${SLURM_DIR}/etc/power-hook`
const POWER_LOG = `${SLURM_DIR}/log/power.log`

const work = mkdtempSync(join(tmpdir(), "dyncluster-slurm-power-"))
const jobs: Array<string> = []
afterAll(() => {
  rmSync(HOOK, { force: true })
  scancel(jobs)
  // leave the CLOUD nodes as they were: powered down and usable
  Effect.runSync(Effect.ignore(makeNetnsCloud({ script: VM_SCRIPT, stateDir: join(work, "cloud"), prefix: PREFIX, mode: "cloud", cores: 2, memMb: 1000 }).destroyAll))
  resetCloudNodes()
  rmSync(work, { recursive: true, force: true })
})

/**
 * Puts cloud1/cloud2 back the way an administrator would: a DOWN node is resumed, and a node
 * that is (or starts) powering up with no ResumeProgram left to serve it is forced down, so it
 * does not turn DOWN again when ResumeTimeout passes.
 */
const resetCloudNodes = () => {
  for (const n of ["cloud1", "cloud2"]) {
    if (/^DOWN|DRAIN|NOT_RESPONDING/.test(flags(cloudNodes().get(n)))) {
      scontrol(["update", `nodename=${n}`, "state=resume"])
      spawnSync("sleep", ["1"])
    }
    if (!/POWERED_DOWN|POWERING_DOWN/.test(flags(cloudNodes().get(n)))) scontrol(["update", `nodename=${n}`, "state=power_down_force", "reason=dyncluster-test-reset"])
  }
}

interface RawJob {
  job_id: number
  job_state: string
  state_reason: string
  restart_cnt: number
  nodes: string
}
const squeueJobs = (): Map<string, RawJob> => {
  const r = spawnSync("squeue", ["--json"], { encoding: "utf8" })
  try {
    return new Map((JSON.parse(r.stdout) as { jobs: Array<RawJob> }).jobs.map((j) => [String(j.job_id), j]))
  } catch {
    return new Map()
  }
}
interface RawNode {
  name: string
  state: string
  state_flags: Array<string>
  reason: string
}
const cloudNodes = (): Map<string, RawNode> => {
  const r = spawnSync("sinfo", ["--json"], { encoding: "utf8" })
  try {
    return new Map((JSON.parse(r.stdout) as { nodes: Array<RawNode> }).nodes.filter((n) => n.name.startsWith("cloud")).map((n) => [n.name, n]))
  } catch {
    return new Map()
  }
}
const flags = (n: RawNode | undefined) => (n === undefined ? "-" : [n.state.toUpperCase(), ...n.state_flags.filter((f) => f !== "CLOUD")].join("+"))

describeWithSlurm("slurm-resume / slurm-suspend as slurmctld's ResumeProgram / SuspendProgram", () => {
  it("powers a CLOUD node up for a job (VM booted, job runs in it), fails an unbootable node DOWN so its job is requeued, suspends the node after SuspendTime", async () => {
    const stateFile = join(work, "state.json")
    const config = join(work, "config.yaml")
    writeFileSync(
      config,
      `cluster:
  type: slurm
  mode: power_save
  config:
    power_save_nodes: {pcloud: "cloud[1-2]"}
    power_save_state_file: ${stateFile}
    power_save_boot_timeout: 40
    poll_interval: 0.5
cloud:
  pcloud: {type: simulated, quantity: {max: 2}}
`
    )
    for (const ns of vmNamespaces(PREFIX)) spawnSync("bash", [VM_SCRIPT, "stop", ns.slice("slurm-".length)])
    // A run killed before its afterAll (or the unbootable node of the last run) may have left a
    // CLOUD node DOWN or powered up: put both back the way an administrator would, then check.
    const settled = () => ["cloud1", "cloud2"].every((n) => /^IDLE\+POWERED_DOWN/.test(flags(cloudNodes().get(n))))
    for (let i = 0; i < 60 && !settled(); i++) {
      if (i % 20 === 0) resetCloudNodes()
      await new Promise((r) => setTimeout(r, 1000))
    }
    const before = cloudNodes()
    for (const n of ["cloud1", "cloud2"]) expect(flags(before.get(n))).toMatch(/^IDLE\+POWERED_DOWN/)
    // slurmctld runs resume.sh/suspend.sh with an empty PATH and as root: full paths, our tsx
    writeFileSync(
      HOOK,
      `#!/bin/sh
# written by src/live/slurm/slurm-power.integration.test.ts; removed when it ends
export NETNS_CLOUD_DIR='${join(work, "cloud")}' NETNS_CLOUD_PREFIX=${PREFIX} NETNS_CLOUD_FAIL_NODES=cloud2
cd '${PROJECT_ROOT}' || exit 1
exec '${process.execPath}' --import tsx src/live/slurm/testing/power-main.ts "slurm-$1" --config '${config}' "$2"
`
    )
    chmodSync(HOOK, 0o755)
    const logStart = existsSync(POWER_LOG) ? readFileSync(POWER_LOG, "utf8").length : 0

    const t0 = performance.now()
    const since = () => (performance.now() - t0) / 1000
    const out = (j: string) => join(work, `out-${j}.txt`)
    // each job needs a whole 2-CPU node: Slurm powers up both CLOUD nodes
    const a = sbatch(["-p", "cloud", "-N", "1", "-c", "2", "-o", join(work, "out-%j.txt"), "--wrap", "hostname; sleep 2"])
    const b = sbatch(["-p", "cloud", "-N", "1", "-c", "2", "-o", join(work, "out-%j.txt"), "--wrap", "hostname; sleep 2"])
    jobs.push(a, b)

    const seen: Array<{ t: number; jobs: Map<string, RawJob>; nodes: Map<string, RawNode>; state: Record<string, unknown> }> = []
    let okJob: string | undefined
    let failedJob: string | undefined
    let requeued: RawJob | undefined
    let done = false
    while (!done) {
      const s = { t: since(), jobs: squeueJobs(), nodes: cloudNodes(), state: Either.getOrElse(readPowerState(stateFile), () => ({})) }
      seen.push(s)
      for (const j of [a, b]) {
        const r = s.jobs.get(j)
        if (r?.job_state === "RUNNING") okJob = j
        if (r !== undefined && r.restart_cnt > 0 && r.job_state === "PENDING" && requeued === undefined) {
          // requeued: seen, so cancel it before its requeue delay ends and Slurm powers a node up for it again
          failedJob = j
          requeued = r
          scancel([j])
        }
      }
      const c1 = s.nodes.get("cloud1")
      done =
        okJob !== undefined &&
        s.jobs.get(okJob)?.job_state === "COMPLETED" &&
        c1 !== undefined &&
        c1.state_flags.includes("POWERED_DOWN") &&
        Object.keys(s.state).length === 0 &&
        vmNamespaces(PREFIX).length === 0
      if (!done) {
        if (s.t > 200) throw new Error(`not done after 200 s: ${JSON.stringify({ a: s.jobs.get(a), b: s.jobs.get(b), nodes: [...s.nodes.values()].map(flags), state: s.state })}\n${readFileSync(POWER_LOG, "utf8").slice(logStart)}`)
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    const powerLog = readFileSync(POWER_LOG, "utf8").slice(logStart)
    const at = (pred: (x: (typeof seen)[number]) => boolean) => seen.find(pred)?.t ?? NaN

    // the failed boot: cloud2 DOWN with our reason, its job requeued (back to PENDING, restarted once)
    expect(failedJob).toBeDefined()
    expect(okJob).not.toBe(failedJob)
    expect(powerLog).toMatch(/resume cloud2: FAILED: boot in pcloud failed \(capacity\).*node set DOWN/)
    const down = seen.find((x) => /DOWN/.test(x.nodes.get("cloud2")?.state.toUpperCase() ?? ""))
    expect(down?.nodes.get("cloud2")?.reason).toBe("dyncluster:boot_failed:capacity")
    expect(requeued).toMatchObject({ job_state: "PENDING", restart_cnt: 1 })

    // the good boot: the job ran inside the VM (its host name is the VM's) on cloud1
    const vm = readFileSync(out(okJob!), "utf8").trim()
    expect(vm).toMatch(new RegExp(`^${PREFIX}\\d+$`))
    expect(seen.some((x) => x.jobs.get(okJob!)?.nodes === "cloud1" && x.jobs.get(okJob!)?.job_state === "RUNNING")).toBe(true)
    // recorded as soon as booted (Pending, no address yet), then with the Active instance
    const recorded = seen.find((x) => (x.state as Record<string, { instance: { ip: string | null } }>).cloud1?.instance.ip != null)?.state as
      | Record<string, { resource: string; instance: { instance_name: string; ip: string } }>
      | undefined
    expect(recorded?.cloud1).toMatchObject({ resource: "pcloud", instance: { instance_name: vm, ip: expect.stringMatching(/^127\.201\.1\.\d+$/) } })
    expect(powerLog).toMatch(new RegExp(`resume cloud1: booted: ${vm} \\(pcloud\\) at 127\\.201\\.1\\.\\d+`))
    // node lifecycle as sinfo showed it
    const c1 = seen.map((x) => flags(x.nodes.get("cloud1")))
    const c1seq = c1.filter((x, i) => i === 0 || x !== c1[i - 1])
    // first seen powered down, or already picked for the job (allocated, powered down or powering up)
    expect(c1seq[0]).toMatch(/^(IDLE|ALLOCATED|MIXED)\+POWER(ED_DOWN|ING_UP)/)
    expect(c1seq).toContain("ALLOCATED")
    expect(c1seq).toContain("IDLE")
    expect(c1seq.at(-1)).toMatch(/^IDLE\+POWERED_DOWN/)
    // suspended only after SuspendTime (10 s) idle, then the VM was destroyed
    const tDone = at((x) => x.jobs.get(okJob!)?.job_state === "COMPLETED")
    const tSuspend = at((x) => x.t > tDone && (x.nodes.get("cloud1")?.state_flags.some((f) => f.startsWith("POWER")) ?? false))
    expect(tSuspend - tDone).toBeGreaterThanOrEqual(8)
    expect(powerLog).toMatch(new RegExp(`suspend cloud1: destroyed ${vm} \\(pcloud\\)`))

    const tRun = at((x) => x.jobs.get(okJob!)?.job_state === "RUNNING")
    const tBooted = at((x) => (x.state as Record<string, { instance: { state: number } }>).cloud1?.instance.state === 3)
    console.log(
      `[slurm power] from sbatch: VM Active and node address set ${tBooted.toFixed(1)} s, job RUNNING ${tRun.toFixed(1)} s ` +
        `(Slurm holds it CONFIGURING until its ~30 s power-up check), COMPLETED ${tDone.toFixed(1)} s, ` +
        `suspend started ${tSuspend.toFixed(1)} s, VM destroyed and node powered down ${seen.at(-1)!.t.toFixed(1)} s`
    )
  }, 240_000)
})
