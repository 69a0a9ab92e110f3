/**
 * `node bin/dyncluster.js run --config X` with `cluster: {type: simulated}`
 * over two OpenStack resources of the real OpenStack of
 * ci/setup-50-openstack.sh (Keystone 22 / Nova 26 Zed, fake virt driver;
 * ci/openstack/README.md), checked through the REST API only: boot to min,
 * grow for the queued jobs, shrink back; resource `qa`'s project has no
 * instance quota left, so its boot is refused (403), it backs off visibly in
 * /resource and the jobs go to `sp`; once the quota is raised `qa` reaches
 * min. No secret in the output. Skipped with a message without that
 * OpenStack; fails under CI=true.
 */
import { afterAll, expect, it, vi } from "vitest"
import { admin, describeWithOpenStack, resourceConfig } from "../live/openstack/testing/real.ts"
import { killDaemons, startConfigDaemon } from "./testing/e2e.ts"

vi.setConfig({ hookTimeout: 300_000 })

afterAll(killDaemons)

const SCENARIO = `
name: real-openstack-e2e
cluster:
  scheduler_cycle: 1
workload:
  type: jobs
  jobs:
    - {id: j1, submit: 3, cores: 2, cpn: 2, runtime: 5}
    - {id: j2, submit: 3, cores: 2, cpn: 2, runtime: 5}
    - {id: j3, submit: 3, cores: 2, cpn: 2, runtime: 5}
`

describeWithOpenStack("dyncluster run --config, simulated cluster over a real OpenStack (Keystone 22 / Nova 26 Zed)", (os) => {
  const adm = admin(os)
  const tag = `${process.pid % 1000}`
  const QA = `qa${tag}`
  const SP = `sp${tag}`
  afterAll(async () => {
    await adm.purge("dc-e2e", SP)
    await adm.purge("dc-e2e-quota", QA)
    await adm.setInstanceQuota("dc-e2e-quota", 10)
  })

  it("real OpenStack: boots to min, grows for the queued jobs, shrinks back; a quota refusal backs off visibly and falls through to the next resource", async () => {
    await adm.setInstanceQuota("dc-e2e-quota", 0)
    const resource = (project: string, prefix: string, priority: number, min: number, max: number) => ({
      type: "openstack",
      priority,
      quantity: { min, max },
      config: resourceConfig(os, project, prefix)
    })
    const config = {
      "dynamic-cluster": {
        cluster_poller_interval: 1,
        cloud_poller_interval: 1,
        auto_provision_interval: 2,
        max_idle_time: 5,
        max_launch_time: 300,
        "config-checker": { command: { command: "true {0} {1} {2}", timeout: 5 } }
      },
      cluster: { type: "simulated", scenario: "batch.yaml" },
      cloud: { [QA]: resource("dc-e2e-quota", QA, 1, 1, 1), [SP]: resource("dc-e2e", SP, 2, 1, 3) },
      logging: { log_level: 3 }
    }
    const d = await startConfigDaemon({ tag: "dc-real-os", config, files: { "batch.yaml": SCENARIO }, startupMs: 120_000 })
    const { daemon, get } = d
    const started = Date.now()
    const seen = { qaBackoff: null as any, spPeak: 0, busy: new Set<string>() }
    let done = false
    let last: any = null
    const deadline = Date.now() + 480_000
    while (Date.now() < deadline && !done) {
      const [nodes, jobs, resources] = await Promise.all([get("/workernode"), get("/job"), get("/resource")])
      const res = (name: string) => resources.find((r: any) => r.name === name)
      last = { nodes: nodes.map((n: any) => [n.hostname, n.state, n.jobs]), jobs: jobs.map((j: any) => j.jobid), resources: resources.map((r: any) => [r.name, r.current_num, r.backoff]) }
      for (const n of nodes) if (n.state === 3 && n.jobs !== null) for (const j of String(n.jobs).split(",")) seen.busy.add(j)
      seen.spPeak = Math.max(seen.spPeak, res(SP).current_num)
      if (seen.qaBackoff === null && res(QA).backoff.until > 0) {
        seen.qaBackoff = { ...res(QA).backoff, at: (Date.now() - started) / 1000 }
        await adm.setInstanceQuota("dc-e2e-quota", 10) // the project's quota is raised: qa boots when its back-off ends
      }
      const atMin = [QA, SP].every((name) => res(name).current_num === res(name).min_num && res(name).worker_nodes.every((n: any) => n.state === 2))
      done = seen.qaBackoff !== null && seen.busy.size === 3 && jobs.length === 0 && atMin && daemon.stdout.some((l) => l.includes("the scenario's workload is done"))
      if (!done) await new Promise((r) => setTimeout(r, 1000))
    }
    const why = d.why({ seconds: (Date.now() - started) / 1000, seen: { ...seen, busy: [...seen.busy] }, last })
    expect(done, why).toBe(true)
    console.log(`real OpenStack e2e: done after ${(Date.now() - started) / 1000}s; ${SP} peaked at ${seen.spPeak} VMs; ${QA} backed off at ${seen.qaBackoff.at}s`)

    // grew for the jobs and shrank back to min; the extra VMs are gone from Nova
    expect(seen.spPeak).toBeGreaterThanOrEqual(2)
    const log = d.log()
    expect(log.some((l) => /^boot in qa\d+ failed \(quota\): 403 from 127\.0\.0\.1:8774: Quota exceeded for instances.*backing off until \+30s; the next provisioning pass looks at the other resources at once$/.test(l.msg)), why).toBe(true)
    expect(log.filter((l) => l.msg === "simulated batch system: join").length).toBeGreaterThanOrEqual(3)
    expect(log.some((l) => l.msg === "simulated batch system: leave")).toBe(true)
    const live = async (project: string, prefix: string) => (await adm.servers(project, prefix)).filter((s) => s.task !== "deleting")
    expect((await live("dc-e2e", SP)).map((s) => s.status)).toEqual(["ACTIVE"])
    expect((await live("dc-e2e-quota", QA)).map((s) => s.status)).toEqual(["ACTIVE"])
    expect(seen.qaBackoff.failures).toBe(1)

    // never a secret in the log or the API
    expect(daemon.stdout.join("\n") + daemon.stderr.join("\n")).not.toContain(os.password)
    expect(JSON.stringify(await get("/resource"))).not.toContain(os.password)

    await d.stop()
  }, 660_000)
})
