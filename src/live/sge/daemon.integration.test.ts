/**
 * `dyncluster run --config FILE` with `cluster.type: sge`, as a real process
 * against the real Grid Engine: the layer registered for "sge" is built from
 * the file's cluster.config (SPEC §2 templates by default), the server
 * status reports {"sge": true}, and the REST API lists Grid Engine's hosts
 * and a job queued with qsub. (Growing and shrinking with cloud VMs is shown
 * by engine.integration.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, expect, it } from "vitest"
import { startDyncluster, type Daemon } from "../../daemon/testing/process.ts"
import { describeWithSge, makeSgeTestbed, qdel, qsub, sleep, type SgeTestbed } from "./testing.ts"

const NAME = "dcrun"

describeWithSge("dyncluster run --config with cluster.type sge", () => {
  let tb: SgeTestbed
  let dir: string
  let d: Daemon | null = null
  const jobs: Array<string> = []
  beforeAll(() => {
    tb = makeSgeTestbed(NAME)
    dir = mkdtempSync(join(tmpdir(), "dc-sge-run-"))
  }, 60_000)
  afterAll(async () => {
    if (d !== null) {
      d.kill("SIGTERM")
      await Promise.race([d.exited, sleep(20_000)])
    }
    qdel(jobs)
    tb.close()
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it("serves the Grid Engine view: status sge true, the hosts, the queued qsub job with its cores", async () => {
    jobs.push(qsub({ queue: tb.queue, seconds: 60, pe: 2, name: "viaapi" }))
    const cfg = join(dir, "sge.yaml")
    writeFileSync(
      cfg,
      [
        "dynamic-cluster:",
        "  cluster_poller_interval: 1",
        "  auto_mode: false",
        "cluster:",
        "  type: sge",
        "  config:",
        `    queue_to_monitor: [${tb.queue}]`,
        `    default_hostgroup: "${tb.group}"`,
        "    qstat_command: /usr/bin/qstat -xml -r -u *",
        "    qhost_command: /usr/bin/qhost -q -j -xml {0} {1}",
        ""
      ].join("\n")
    )
    d = startDyncluster(["run", "--config", cfg, "--port", "0", "--log-format", "json"])
    const first = await d.waitForLine((l) => l.includes("dashboard at http://"), 60_000)
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(first)![1]
    const get = async (path: string) => (await fetch(`${url}${path}`)).json() as Promise<any>
    let status: any = null
    for (let i = 0; i < 60 && status?.cluster?.sge !== true; i++) {
      await sleep(500)
      status = await get("/server/status")
    }
    expect(status).toEqual({ auto_mode: false, cluster: { sge: true } })
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
