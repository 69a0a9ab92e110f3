/**
 * The real `dyncluster run --config` process with two EC2 resources, one
 * on-demand and one spot, and `cluster: {type: simulated}` standing in for
 * the batch system, checked through the REST API only: it boots to min,
 * VMs join, the scenario's jobs run (some on spot nodes), the cluster
 * shrinks back to min, and no instance is left behind in the cloud.
 *
 * Runs twice: against our own fake EC2 and against moto 5.2.2
 * (ci/setup-40-moto.sh; an EC2 emulator written by others). The moto run
 * skips visibly without moto and fails when CI=true.
 */
import { afterAll, describe, expect, it } from "vitest"
import { killDaemons, startConfigDaemon } from "../../daemon/testing/e2e.ts"
import { FakeEc2 } from "./testing/fakeEc2.ts"
import { describeWithMoto, e2eAwsResource, MOTO_AMI, MOTO_CREDENTIALS, MOTO_ENDPOINT, motoInstancesNamed, motoPrefix } from "./testing/moto.ts"

const SECRET = "e2e-S3CRET-key-0042"

const SCENARIO = `
name: ec2-e2e
cluster:
  scheduler_cycle: 1
workload:
  type: jobs
  jobs:
    - {id: j1, submit: 2, cores: 2, cpn: 2, runtime: 4}
    - {id: j2, submit: 2, cores: 2, cpn: 2, runtime: 4}
    - {id: j3, submit: 2, cores: 2, cpn: 2, runtime: 4}
`

interface Target {
  readonly endpoint: string
  readonly region: string
  readonly image: string
  readonly accessKey: string
  /** Live (pending/running) instances whose Name starts with `prefix-`. */
  readonly live: (prefix: string) => Promise<number>
}

afterAll(killDaemons)

const endToEnd = async (t: Target, label: string) => {
  const od = motoPrefix("e2eod")
  const sp = motoPrefix("e2esp")
  const resource = (prefix: string, priority: number, min: number, max: number, extra: Record<string, unknown>) =>
    e2eAwsResource({ ...t, accessKeyId: t.accessKey, secretAccessKey: SECRET }, prefix, priority, { min, max }, extra)
  const config = {
    "dynamic-cluster": {
      cluster_poller_interval: 0.5,
      cloud_poller_interval: 0.5,
      auto_provision_interval: 1,
      max_idle_time: 3,
      max_launch_time: 60,
      "config-checker": { command: { command: "true {0}", timeout: 5 } }
    },
    cluster: { type: "simulated", scenario: "batch.yaml" },
    cloud: { od: resource(od, 1, 1, 1, {}), sp: resource(sp, 2, 0, 2, { spot_bid: "0.05", spot_timeout: 600 }) },
    logging: { log_level: 3 }
  }
  const d = await startConfigDaemon({ tag: "dc-ec2-e2e", config, files: { "batch.yaml": SCENARIO }, env: { AWS_EC2_METADATA_DISABLED: "true" } })
  const { daemon, get } = d
  const seen = { spPeak: 0, spotNodes: new Set<string>(), busy: new Map<string, string>() }
  let last: any = null
  let done = false
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline && !done) {
    const [nodes, resources] = await Promise.all([get("/workernode"), get("/resource")])
    const res = (n: string) => resources.find((r: any) => r.name === n)
    last = { nodes: nodes.map((n: any) => [n.hostname, n.state, n.jobs, n.instance?.spot_id]), resources: resources.map((r: any) => [r.name, r.current_num, r.backoff]) }
    seen.spPeak = Math.max(seen.spPeak, res("sp").current_num)
    for (const n of nodes) {
      if (n.instance?.spot_id) seen.spotNodes.add(n.hostname)
      if (n.state === 3 && n.jobs !== null) for (const j of String(n.jobs).split(",")) seen.busy.set(j, n.hostname)
    }
    done =
      daemon.stdout.some((l) => l.includes("the scenario's workload is done")) &&
      res("od").current_num === 1 &&
      res("sp").current_num === 0 &&
      nodes.every((n: any) => n.state === 2)
    if (!done) await new Promise((r) => setTimeout(r, 250))
  }
  const why = d.why({ label, seen: { ...seen, spotNodes: [...seen.spotNodes], busy: [...seen.busy] }, last })
  expect(done, why).toBe(true)
  const log = d.log()
  expect(log.some((l) => l.msg === "the scenario's workload is done (3 job(s) finished, 0 killed); the batch system idles, the scaler keeps running"), why).toBe(true)
  expect([...seen.busy.keys()].sort(), why).toEqual(["j1", "j2", "j3"])
  // spot nodes were booted (as spot requests), joined and retired again
  expect(seen.spPeak, why).toBeGreaterThanOrEqual(1)
  expect(seen.spotNodes.size, why).toBeGreaterThanOrEqual(1)
  expect(log.some((l) => /^booted e2esp[0-9a-f]{6}-[a-z0-9]{8} in sp/.test(l.msg)), why).toBe(true)
  // nothing left behind in the cloud: one on-demand VM (min 1), no spot VM
  expect(await t.live(od), why).toBe(1)
  expect(await t.live(sp), why).toBe(0)
  // never the secret key
  expect(daemon.stdout.join("\n") + daemon.stderr.join("\n")).not.toContain(SECRET)
  await d.stop()
}

describe("dyncluster run --config: on-demand + spot EC2 resources under a simulated batch system", () => {
  it("against our fake EC2", async () => {
    const fake = await new FakeEc2().start()
    try {
      await endToEnd(
        {
          endpoint: fake.url,
          region: "eu-west-1",
          image: fake.images[0],
          accessKey: "AKIDFAKE",
          live: async (prefix) => fake.live().filter((v) => (v.tags.get("Name") ?? "").startsWith(`${prefix}-`)).length
        },
        "fake EC2"
      )
    } finally {
      await fake.stop()
    }
  }, 120_000)
})

describeWithMoto("dyncluster run --config: on-demand + spot EC2 resources under a simulated batch system, against moto", () => {
  it(`against moto (${MOTO_ENDPOINT})`, async () => {
    const region = "ca-central-1"
    await endToEnd(
      { endpoint: MOTO_ENDPOINT, region, image: MOTO_AMI, accessKey: MOTO_CREDENTIALS.accessKeyId, live: async (prefix) => (await motoInstancesNamed(region, prefix)).length },
      "moto"
    )
  }, 120_000)
})
