/**
 * `dyncluster run --config FILE` with `cluster.type: sge`, as a real process
 * against the real Grid Engine: the layer registered for "sge" is built from
 * the file's cluster.config (SPEC §2 templates by default), the server
 * status reports {"sge": true}, and the REST API lists Grid Engine's hosts
 * and a job queued with qsub.
 *
 * End to end: the same process with a simulated cloud resource
 * (`cloud.<res>.type: simulated`) whose VMs become real exec hosts through
 * the operator hooks an administrator would configure —
 * post_vm_provision_command makes the machine (ci/sge/sge-node.sh vm: a
 * network namespace, its name resolves), a `command` config checker is its
 * contextualisation (sge-node.sh execd: starts the execd, exit 0 = Ready),
 * post_vm_destroy_command ends it (sge-node.sh destroy). Two whole-node qsub
 * jobs make the cluster grow; once they have finished it shrinks back to no
 * cloud node, and Grid Engine has no trace of the hosts. The end-to-end part
 * runs once per supported policy (policyNames()), one after the other, each
 * on a queue and host names of its own, with checks that hold for any policy.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { availableParallelism } from "node:os"
import { expect, it } from "vitest"
import { apiGet, dashboardUrl, jsonLog, sleep } from "../../daemon/testing/e2e.ts"
import { startDyncluster } from "../../daemon/testing/process.ts"
import { policyNames } from "../../engine/policy.ts"
import { NodeStateNames } from "../../model/types.ts"
import { describeWithSge, liveJobs, qconf, qsub, ranOnEventually, runPrefix, sgeClusterYaml, sgeDaemonSuite, sgeScripts, shell } from "./testing.ts"

const NAME = "dcrun"

describeWithSge("dyncluster run --config with cluster.type sge", () => {
  const suite = sgeDaemonSuite(NAME)
  const { jobs } = suite

  it("serves the Grid Engine view: status sge true, the hosts, the queued qsub job with its cores", async () => {
    const { tb, dir } = suite
    jobs.push(qsub({ queue: tb.queue, seconds: 60, pe: 2, name: "viaapi" }))
    const cfg = join(dir, "sge.yaml")
    writeFileSync(
      cfg,
      [
        "dynamic-cluster:",
        "  policy: classic",
        "  cluster_poller_interval: 1",
        "  auto_mode: false",
        ...sgeClusterYaml(tb),
        ""
      ].join("\n")
    )
    suite.daemon = startDyncluster(["run", "--config", cfg, "--port", "0", "--log-format", "json"])
    const get = apiGet(await dashboardUrl(suite.daemon))
    let status: any = null
    for (let i = 0; i < 60 && status?.cluster?.sge !== true; i++) {
      await sleep(500)
      status = await get("/server/status")
    }
    // (live mode adds each cloud resource's auth status: no resource here)
    expect(status).toEqual({ auto_mode: false, cluster: { sge: true }, clouds: {}, dry_run: false })
    const nodes: Array<any> = await get("/workernode")
    const local = nodes.find((n) => n.hostname === "localhost")
    expect(local).toMatchObject({ type: "physical", instance: null })
    expect(local.num_proc).toBeGreaterThan(0)
    let queued: Array<any> = []
    for (let i = 0; i < 20 && !queued.some((j) => j.jobid === jobs[0]); i++) {
      queued = await get("/job")
      if (!queued.some((j) => j.jobid === jobs[0])) await sleep(500)
    }
    expect(queued.find((j) => j.jobid === jobs[0])).toMatchObject({ name: "viaapi", queue: tb.queue, requested_cores: 2, cores_per_node: 2, state: 0 })
  }, 90_000)
})

const RES = "sgesim"
/** A policy's own short tag (its first letters): queue dcgrow<tag>.q, hosts dcg<tag><run>-NNNNN. */
const tagOf = (policy: string) => policy.replace(/[^a-z]/g, "").slice(0, 4)

for (const policy of policyNames()) describeWithSge(`dyncluster run --config, policy ${policy}: sge with a simulated cloud whose VMs become exec hosts (end to end)`, () => {
  const GROW = `dcgrow${tagOf(policy)}`
  const prefix = runPrefix(`dcg${tagOf(policy)}`)
  /** Instance names the simulated cloud gave out (from the daemon's log). */
  const booted = () =>
    (suite.daemon === null ? [] : jsonLog(suite.daemon)).flatMap((e) => (e.msg === `simulated cloud ${RES}: boot` && typeof e.name === "string" ? [e.name] : []))
  const suite = sgeDaemonSuite(GROW, { hosts: booted })
  const { jobs } = suite

  it("grows for two whole-node qsub jobs, runs them on the new exec hosts, and shrinks to no cloud node after they finish", async () => {
    const { tb, dir } = suite
    const cores = availableParallelism()
    const node = (cmd: string) => `/bin/bash "${sgeScripts}/sge-node.sh" ${cmd} {0}`
    const cfg = join(dir, "sge-sim.yaml")
    writeFileSync(
      cfg,
      [
        "dynamic-cluster:",
        `  policy: ${policy}`,
        "  cluster_poller_interval: 1",
        "  cloud_poller_interval: 1",
        "  auto_provision_interval: 1",
        "  max_idle_time: 3",
        "  max_launch_time: 120",
        "  worker_thread_number: 4",
        "  config-checker:",
        `    command: {command: '${node("execd")}', timeout: 60}`,
        `  post_vm_provision_command: '${node("vm")}'`,
        `  post_vm_destroy_command: '${node("destroy")}'`,
        ...sgeClusterYaml(tb, ["command_timeout: 30"]),
        "cloud:",
        `  ${RES}:`,
        "    type: simulated",
        // max 2: one node per job, or one running them one after the other (classic boots again for jobs
        // still queued once the new hosts are Idle)
        "    quantity: {min: 0, max: 2}",
        `    reservation: {queue: ${tb.queue}}`,
        "    config:",
        `      instance_name_prefix: ${prefix}`,
        `      cores: ${cores}`,
        "      boot_time: 1",
        "      destroy_time: 1",
        ""
      ].join("\n")
    )
    // two jobs that each need a whole node (PE smp, $pe_slots, all of a host's cores)
    for (let i = 0; i < 2; i++) jobs.push(qsub({ queue: tb.queue, seconds: 4, pe: cores, name: `grow${i}` }))
    const t0 = Date.now()
    const d = startDyncluster(["run", "--config", cfg, "--port", "0", "--log-format", "json", "--log-level", "info"])
    suite.daemon = d
    const get = apiGet(await dashboardUrl(d))

    // the queued jobs as the REST API shows them
    let queued: Array<any> = []
    for (let i = 0; i < 40 && !jobs.every((j) => queued.some((q) => q.jobid === j)); i++) {
      queued = await get("/job")
      await sleep(250)
    }
    for (const j of jobs) expect(queued.find((q) => q.jobid === j)).toMatchObject({ queue: tb.queue, requested_cores: cores, cores_per_node: cores, state: 0 })

    const seen = { peak: 0, peakResource: 0, states: new Map<string, Set<string>>(), ranOn: new Map<string, string>() }
    let shrunk = false
    while (!shrunk) {
      const [nodes, resources]: [Array<any>, Array<any>] = await Promise.all([get("/workernode"), get("/resource")])
      const cloudNodes = nodes.filter((n) => n.instance !== null)
      seen.peak = Math.max(seen.peak, cloudNodes.length)
      const res = resources.find((r) => r.name === RES)
      seen.peakResource = Math.max(seen.peakResource, res.current_num)
      for (const n of cloudNodes) {
        const states = seen.states.get(n.hostname) ?? new Set<string>()
        states.add(NodeStateNames[n.state as number])
        seen.states.set(n.hostname, states)
        for (const j of String(n.jobs ?? "").split(",")) if (jobs.includes(j)) seen.ranOn.set(j, n.hostname)
      }
      if (seen.peak > 0 && cloudNodes.length === 0 && res.current_num === 0) {
        const live = liveJobs()
        shrunk = jobs.every((j) => !live.has(j))
      }
      // (generous: a loaded machine's qmaster takes up to 30 s per qconf; quiet, a run takes well under a minute)
      if (!shrunk && Date.now() - t0 > 240_000) {
        throw new Error(
          `${policy}: no shrink after 240 s: nodes ${cloudNodes.map((n) => `${n.hostname}:${NodeStateNames[n.state as number]}`).join(" ")}; log tail:\n${d.stdout.slice(-15).join("\n")}`
        )
      }
      if (!shrunk) await sleep(300)
    }
    console.log(`${policy}: grow and shrink through dyncluster run took ${((Date.now() - t0) / 1000).toFixed(1)} s`)

    const names = booted()
    // one or two nodes (max 2)
    expect([1, 2]).toContain(names.length)
    for (const name of names) expect(name).toMatch(new RegExp(`^${prefix}-\\d{5}$`))
    expect(seen.peak).toBeGreaterThanOrEqual(1)
    expect(seen.peak).toBeLessThanOrEqual(2)
    expect(seen.peakResource).toBeGreaterThanOrEqual(seen.peak)
    expect(seen.peakResource).toBeLessThanOrEqual(2)
    // each job ran on a cloud node (Grid Engine's accounting: on a loaded machine a 4 s job can start and end between
    // two cluster polls, unseen in /workernode), each node went Starting → Idle/Busy → Held → Deleting
    for (const j of jobs) {
      const host = await ranOnEventually(j)
      expect(names, `job ${j} ran on ${host}`).toContain(host)
    }
    for (const host of seen.ranOn.values()) expect(names).toContain(host)
    expect([...seen.states.keys()].sort()).toEqual([...names].sort())
    for (const states of seen.states.values()) {
      expect(states).toContain("Starting")
      expect(states.has("Idle") || states.has("Busy")).toBe(true)
      expect(states).toContain("Deleting")
    }
    const msgs = jsonLog(d).map((e) => e.msg)
    expect(msgs.filter((m) => /is ready and joined the cluster/.test(m))).toHaveLength(names.length)
    expect(msgs.filter((m) => /→ Deleting: held with no jobs/.test(m))).toHaveLength(names.length)
    expect(((await get("/job")) as Array<any>).filter((j) => jobs.includes(j.jobid))).toEqual([])
    // Grid Engine has no trace of the hosts, and the destroy hook ended the machines
    const execHosts = qconf("-sel").split("\n")
    for (const name of names) expect(execHosts).not.toContain(name)
    expect(qconf("-shgrp", tb.group)).toMatch(/hostlist\s+NONE/)
    // (the hook runs right after the engine forgot the node: give it a moment)
    const machinesLeft = () => {
      const hostsFile = shell("cat /etc/hosts")
      const netns = shell("ip netns list || true").split("\n").map((l) => l.split(/\s/)[0])
      return names.filter((name) => new RegExp(`\\s${name}\\s`).test(hostsFile) || netns.includes(`sge-${name}`))
    }
    for (let i = 0; i < 50 && machinesLeft().length > 0; i++) await sleep(200)
    expect(machinesLeft()).toEqual([])
  }, 270_000)
})
