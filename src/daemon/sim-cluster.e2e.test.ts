/**
 * Issue 6's acceptance, end to end: the real `node bin/dyncluster.js run
 * --config X` process with OpenStack resources pointed at in-process fake
 * Keystone/Nova servers (127.0.0.1) and `cluster: {type: simulated,
 * scenario: ...}` standing in for the cluster. Everything is checked through
 * the REST API only: it boots to min, VMs join the simulated batch system,
 * the queued jobs run on them, the cluster shrinks back to min, and it
 * survives the failure cases:
 *
 * - resource `qa` is at its quota when the daemon starts: its boot is refused
 *   (403 "Quota exceeded"), the back-off shows in /resource, the jobs go to
 *   the next resource meanwhile, and once the quota is lifted `qa` reaches
 *   min when the back-off ends (30 s: the engine's first back-off step);
 * - resource `ka`'s Keystone refuses the credentials (401): /server/status
 *   says so for `ka`, and the mark clears once Keystone accepts them again.
 */
import { afterAll, describe, expect, it } from "vitest"
import { FakeOpenStack } from "../live/openstack/testing/fakeOpenStack.ts"
import { redactSecrets } from "../model/config.ts"
import { killDaemons, startConfigDaemon } from "./testing/e2e.ts"

const PASSWORD = "pw-S3CRET-e2e-41"
const users = [{ name: "demo", password: PASSWORD, project: "demo" }]
const fakes: Array<FakeOpenStack> = []
afterAll(async () => {
  killDaemons()
  for (const f of fakes) await f.stop()
})

const resource = (fake: FakeOpenStack, prefix: string, priority: number, min: number, max: number) => ({
  type: "openstack",
  priority,
  quantity: { min, max },
  config: {
    auth_url: fake.authUrl,
    username: "demo",
    password: PASSWORD,
    project: "demo",
    image_uuid: fake.images[0],
    flavor: "m1.small",
    instance_name_prefix: prefix,
    api_timeout: 5,
    // the fake's addresses (10.0.x.y) must not be looked up: no traffic beyond 127.0.0.1
    reverse_dns: false
  }
})

const SCENARIO = `
name: e2e-batch
cluster:
  scheduler_cycle: 1
workload:
  type: jobs
  jobs:
    - {id: j1, submit: 3, cores: 2, cpn: 2, runtime: 5}
    - {id: j2, submit: 3, cores: 2, cpn: 2, runtime: 5}
    - {id: j3, submit: 3, cores: 2, cpn: 2, runtime: 5}
# the simulated cloud of an ordinary scenario: not used under a live cloud
clouds:
  sp: {cores: 2}
`

const KEYSTONE_401 = { error: { code: 401, title: "Unauthorized", message: "The request you have made requires authentication." } }

describe("dyncluster run --config with cluster.type simulated over live OpenStack resources", () => {
  it("boots to min, runs the scenario's jobs on joined VMs, shrinks back, and survives quota and Keystone refusals", async () => {
    const qa = await new FakeOpenStack({ users, quota: 0 }).start()
    const sp = await new FakeOpenStack({ users }).start()
    const ka = await new FakeOpenStack({ users }).start()
    fakes.push(qa, sp, ka)
    ka.inject({ method: "POST", path: /\/auth\/tokens$/, times: 1_000_000, fault: { kind: "status", status: 401, body: KEYSTONE_401 } })

    const config = {
      "dynamic-cluster": {
        cluster_poller_interval: 0.5,
        cloud_poller_interval: 0.5,
        auto_provision_interval: 1,
        max_idle_time: 3,
        max_launch_time: 60,
        "config-checker": { command: { command: "true {0} {1} {2}", timeout: 5 } }
      },
      // relative: resolved against this file's directory, not the daemon's working directory
      cluster: { type: "simulated", scenario: "batch.yaml" },
      cloud: { qa: resource(qa, "qa", 1, 1, 2), sp: resource(sp, "sp", 2, 1, 4), ka: resource(ka, "ka", 3, 1, 1) },
      logging: { log_level: 3 }
    }

    const t0 = Date.now()
    const d = await startConfigDaemon({ tag: "dc-e2e", config, files: { "batch.yaml": SCENARIO } })
    const { daemon, get } = d
    const started = Date.now()
    // live mode too: GET /server/config is the file as written (secrets redacted), /effective has the defaults
    expect(await get("/server/config")).toEqual(redactSecrets(config))
    expect((await get("/server/config/effective"))["dynamic-cluster"]).toHaveProperty("post_vm_provision_command", null)

    // What the API showed along the way.
    const seen = { qaBackoff: null as any, kaAuthError: null as any, queued: new Set<string>(), busy: new Map<string, string>(), spPeak: 0, status: null as any }
    let quotaLifted = false
    let kaFixed = false
    let done = false
    const resOf = (rs: Array<any>, name: string) => rs.find((r) => r.name === name)
    const deadline = Date.now() + 55_000
    let last: any = null
    while (Date.now() < deadline && !done) {
      const [nodes, jobs, resources, status] = await Promise.all([get("/workernode"), get("/job"), get("/resource"), get("/server/status")])
      last = { nodes: nodes.map((n: any) => [n.hostname, n.state, n.jobs]), jobs: jobs.map((j: any) => j.jobid), resources: resources.map((r: any) => [r.name, r.current_num, r.backoff]), status }
      for (const j of jobs) seen.queued.add(j.jobid)
      // job → the node it was seen running on (a node may run several jobs one after another)
      for (const n of nodes) if (n.state === 3 && n.jobs !== null) for (const j of String(n.jobs).split(",")) seen.busy.set(j, n.hostname)
      seen.spPeak = Math.max(seen.spPeak, resOf(resources, "sp").current_num)
      const q = resOf(resources, "qa")
      if (seen.qaBackoff === null && q.backoff.until > 0) {
        seen.qaBackoff = { ...q.backoff, current: q.current_num, at: (Date.now() - started) / 1000 }
        qa.quota = Infinity // the project's quota is raised: qa may boot when its back-off ends
        quotaLifted = true
      }
      if (seen.kaAuthError === null && status.clouds?.ka?.auth === false) {
        seen.kaAuthError = status.clouds.ka
        seen.status = status
        ka.injections.length = 0 // Keystone accepts the credentials again
        kaFixed = true
      }
      const idleAtMin = ["qa", "sp", "ka"].every((name) => {
        const r = resOf(resources, name)
        return r.current_num === r.min_num && r.worker_nodes.every((n: any) => n.state === 2)
      })
      done = quotaLifted && kaFixed && seen.busy.size > 0 && jobs.length === 0 && idleAtMin && status.clouds.ka.auth === true && daemon.stdout.some((l) => l.includes("the scenario's workload is done"))
      if (!done) await new Promise((r) => setTimeout(r, 200))
    }
    const why = d.why({ seconds: (Date.now() - started) / 1000, seen: { ...seen, queued: [...seen.queued], busy: [...seen.busy] }, last })
    expect(done, why).toBe(true)
    const runSeconds = (Date.now() - started) / 1000

    // boots to min in every resource; the VMs joined the simulated batch system and ran the jobs
    const nodes = await get("/workernode")
    expect(nodes.map((n: any) => n.hostname.replace(/-[a-z0-9]{8}$/, "-*")).sort()).toEqual(["ka-*", "qa-*", "sp-*"])
    expect(nodes.every((n: any) => n.state === 2 && n.type === "openstack" && n.num_proc === 2 && n.instance.state === 4)).toBe(true)
    // Jobs that found a min node Idle start at once and are never listed as queued (a fresh clone's
    // slower start-up makes that likely); at least the one the cluster had to grow for was.
    expect(seen.queued.size, why).toBeGreaterThan(0)
    expect([...seen.queued].every((j) => ["j1", "j2", "j3"].includes(j)), why).toBe(true)
    // (no physical nodes in the scenario: every job ran on a VM; the scheduler takes any free node, ka's min node too)
    expect([...seen.busy.keys()].sort(), why).toEqual(["j1", "j2", "j3"])
    expect([...seen.busy.values()].every((h) => /^(sp|ka)-[a-z0-9]{8}$/.test(h)), why).toBe(true)
    expect(seen.spPeak).toBeGreaterThanOrEqual(2)
    const log = d.log()
    expect(log.some((l) => l.msg === "the scenario's workload is done (3 job(s) finished, 0 killed); the batch system idles, the scaler keeps running")).toBe(true)
    expect(log.filter((l) => l.msg === "simulated batch system: join").length).toBeGreaterThanOrEqual(4)
    expect(log.some((l) => l.msg === "simulated batch system: leave")).toBe(true)
    // the cluster shrank back: the extra sp VMs are gone from the cloud
    expect(sp.live().length).toBe(1)
    expect(sp.requests.filter((r) => r.method === "DELETE").length).toBeGreaterThanOrEqual(1)

    // quota: the refusal put qa into back-off (visible in /resource), the jobs went to sp meanwhile, and qa recovered
    expect(seen.qaBackoff).toMatchObject({ failures: 1, current: 0 })
    expect(log.some((l) => /^boot in qa failed \(quota\): 403 .*Quota exceeded for instances.*backing off until \+30s; the next provisioning pass looks at the other resources at once$/.test(l.msg))).toBe(true)
    expect(resOf(await get("/resource"), "qa").backoff).toEqual({ until: 0, failures: 0, invalid: null })
    expect(qa.live().map((s) => s.status)).toEqual(["ACTIVE"])

    // Keystone's 401 showed in /server/status for ka only (the seed's fields kept), then cleared
    expect(seen.status).toMatchObject({ auto_mode: true, cluster: { sim: true } })
    expect(seen.kaAuthError.error).toMatch(/^(authenticate|list|flavour): Keystone at 127\.0\.0\.1:\d+ refused the credentials of user demo \(domain Default\) in project demo/)
    expect(typeof seen.kaAuthError.since).toBe("number")
    expect(seen.status.clouds.qa).toEqual({ auth: true, error: null, since: null })
    expect((await get("/server/status")).clouds).toEqual({
      qa: { auth: true, error: null, since: null },
      sp: { auth: true, error: null, since: null },
      ka: { auth: true, error: null, since: null }
    })
    expect(log.some((l) => l.level === "error" && /^cloud resource ka refuses the credentials/.test(l.msg))).toBe(true)
    expect(log.some((l) => l.msg === "cloud resource ka accepts the credentials again")).toBe(true)

    // never a secret in the log or the API
    expect(daemon.stdout.join("\n")).not.toContain(PASSWORD)
    expect(JSON.stringify(await get("/resource"))).not.toContain(PASSWORD)

    await d.stop()
    console.log(`sim-cluster e2e: start-up ${(started - t0) / 1000}s, run ${runSeconds}s, qa back-off seen at ${seen.qaBackoff.at}s`)
  }, 110_000)
})
