/**
 * The Slurm Cluster layer's operations against the real Slurm 22.05 of
 * ci/setup-30-slurm.sh: dynamic nodes with the reservation's features and
 * account reservations, hold/unhold, vacate, removal that waits for the
 * running jobs, VMs that registered themselves, and the failure modes.
 * Partitions dyntest/dynq (ci/slurm/dyncluster.conf); node names dcl*.
 */
import { Effect, Either } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, expect, it } from "vitest"
import type { ClusterError, ClusterNode, NewNode } from "../../engine/services.ts"
import { NodeState, type Reservation } from "../../model/types.ts"
import { makeSlurmClusterService, type SlurmClusterService } from "./cluster.ts"
import { decodeSlurmConfig } from "./config.ts"
import {
  cleanupSlurm,
  describeWithSlurm,
  sbatch,
  scancel,
  showNode,
  showReservation,
  sinfoNodes,
  slurmEnv,
  squeueStates,
  startVm,
  stopVm,
  waitFor
} from "./testing/env.ts"

const PREFIX = "dcl"
const NONE: Reservation = { queue: null, account: null, property: null }
const jobs: Array<string> = []

const service = (over: Record<string, unknown> = {}, env: Record<string, string> = slurmEnv): Promise<SlurmClusterService> =>
  Effect.runPromise(
    makeSlurmClusterService(
      Either.getOrThrow(
        decodeSlurmConfig(
          { dynamic_feature: "dyntest", poll_interval: 0.3, register_timeout: 30, drain_timeout: 30, node_memory_mb: { test: 900 }, ...over },
          { queueToMonitor: ["dyntest"] }
        )
      ),
      { env }
    )
  )
const run = <A>(eff: Effect.Effect<A, ClusterError>) => Effect.runPromise(eff)
const fails = async (eff: Effect.Effect<unknown, ClusterError>): Promise<string> => {
  const r = await Effect.runPromise(Effect.either(eff))
  if (Either.isRight(r)) throw new Error("expected a ClusterError, got success")
  expect(r.left._tag).toBe("ClusterError")
  return r.left.message
}
const newNode = (hostname: string, ip: string | null, reservation: Reservation = NONE, cores = 2): NewNode => ({
  hostname,
  ip,
  cores,
  resource: "test",
  reservation,
  instanceName: hostname
})
const jobState = (id: string) => squeueStates().get(id)
const waitJob = (id: string, state: string, ms = 30_000) => waitFor(`job ${id} ${state}`, () => (jobState(id) === state ? true : undefined), ms)
/** Queries until the node is in `state`: Slurm flags a slow slurmd NOT_RESPONDING (→ Error) for a moment on a loaded machine. */
const untilNode = async (c: SlurmClusterService, host: string, what: string, state: NodeState): Promise<ClusterNode> => {
  let last: ClusterNode | undefined
  for (let i = 0; i < 60; i++) {
    last = (await run(c.query)).nodes.find((n) => n.hostname === host)
    if (last?.state === state) return last
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`${host}: expected ${what}, last seen ${JSON.stringify(last)}`)
}
const submit = (args: ReadonlyArray<string>) => {
  const id = sbatch(args)
  jobs.push(id)
  return id
}

beforeAll(() => cleanupSlurm({ prefix: PREFIX, reservations: ["dyncluster_physics"] }))
afterAll(() => cleanupSlurm({ prefix: PREFIX, jobs, reservations: ["dyncluster_physics"] }))

describeWithSlurm("Slurm Cluster layer on a real Slurm 22.05", () => {
  it("adds a dynamic node with its reservation's partition feature and property; its own slurmd registers it; jobs run there; removal deletes it", async () => {
    const c = await service()
    const ip = startVm("dcl1", "dynamic", "dcl1")
    const t0 = performance.now()
    await run(c.addNode(newNode("dcl1", ip, { queue: "dynq", account: null, property: "gpu" })))
    console.log(`[slurm layer] addNode until registered: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    expect(showNode("dcl1")).toMatchObject({ State: expect.stringMatching(/^IDLE\+DYNAMIC_NORM/), AvailableFeatures: "dynq,gpu", Partitions: "dynq", NodeAddr: ip, CPUTot: "2", RealMemory: "900" })
    expect(await untilNode(c, "dcl1", "Idle", NodeState.Idle)).toMatchObject({ num_proc: 2, jobs: null })
    // a job of that partition asking for the property runs on it
    const j = submit(["-p", "dynq", "-C", "gpu", "--mem", "800", "--wrap", "true"])
    await waitJob(j, "COMPLETED")
    await run(c.checkReservation("dcl1", { queue: "dynq", account: null, property: "gpu" }))
    expect(await fails(c.checkReservation("dcl1", { queue: "dynq", account: null, property: "bigmem" }))).toMatch(/lacks feature\(s\) bigmem .*fixed when it is created/)
    await run(c.removeNode("dcl1", { queue: "dynq", account: null, property: "gpu" }))
    expect(showNode("dcl1")).toBeNull()
    stopVm("dcl1")
  })

  it("an account reservation is a MAGNETIC Slurm reservation: only that account's jobs run there, without asking for it", async () => {
    const c = await service()
    const res: Reservation = { queue: null, account: "physics", property: null }
    const [ip2, ip3] = [startVm("dcl2", "dynamic", "dcl2"), startVm("dcl3", "dynamic", "dcl3")]
    // both at once: the reservation is read and written back whole, one change at a time
    await run(Effect.all([c.addNode(newNode("dcl2", ip2, res)), c.addNode(newNode("dcl3", ip3, res))], { concurrency: 2 }))
    expect(showReservation("dyncluster_physics")).toMatchObject({ Nodes: "dcl[2-3]", Accounts: "physics", Flags: expect.stringContaining("MAGNETIC") })
    expect(await run(c.reservationNodes("physics"))).toEqual(["dcl2", "dcl3"])
    const mine = submit(["-p", "dyntest", "-A", "physics", "--wrap", "true"])
    const other = submit(["-p", "dyntest", "-A", "chemistry", "-t", "5", "--wrap", "true"])
    await waitJob(mine, "COMPLETED")
    expect(jobState(other)).toBe("PENDING")
    // the other account's job is a queued job of the monitored partition for the scaler
    const view = await run(c.query)
    expect(view.jobs.find((x) => x.jobid === other)).toMatchObject({ queue: "dyntest", account: "chemistry", requested_walltime: "00:05:00", requested_cores: 1 })
    scancel([other])
    await run(c.removeNode("dcl2", res))
    expect(showReservation("dyncluster_physics")).toMatchObject({ Nodes: "dcl3" })
    await run(c.removeNode("dcl3", res))
    expect(showReservation("dyncluster_physics")).toBeNull()
    stopVm("dcl2")
    stopVm("dcl3")
  })

  it("hold drains (Holding while a job runs), vacate cancels the node's jobs (then Held), unhold resumes", async () => {
    const c = await service()
    await run(c.addNode(newNode("dcl4", startVm("dcl4", "dynamic", "dcl4"))))
    const j = submit(["-p", "dyntest", "-w", "dcl4", "--wrap", "sleep 120"])
    await waitJob(j, "RUNNING")
    const until = (what: string, state: NodeState) => untilNode(c, "dcl4", what, state)
    expect(await until("Busy", NodeState.Busy)).toMatchObject({ jobs: j })
    await run(c.holdNode("dcl4"))
    expect(sinfoNodes().find((n) => n.name === "dcl4")?.state).toMatch(/^(ALLOCATED|MIXED)\+DRAIN/)
    expect(await until("Holding", NodeState.Holding)).toMatchObject({ jobs: j, extra_attributes: expect.objectContaining({ reason: "dyncluster: hold" }) })
    await run(c.vacateNode("dcl4", [j]))
    await waitJob(j, "CANCELLED", 15_000)
    expect(await until("Held", NodeState.Held)).toMatchObject({ jobs: null })
    await run(c.unholdNode("dcl4"))
    await until("Idle", NodeState.Idle)
    await run(c.removeNode("dcl4", NONE))
    stopVm("dcl4")
  })

  it("removal drains and waits until the running job has finished, then deletes the node", async () => {
    const c = await service()
    await run(c.addNode(newNode("dcl5", startVm("dcl5", "dynamic", "dcl5"))))
    const j = submit(["-p", "dyntest", "-w", "dcl5", "--wrap", "sleep 4"])
    await waitJob(j, "RUNNING")
    const t0 = performance.now()
    await run(c.removeNode("dcl5", NONE))
    const took = (performance.now() - t0) / 1000
    expect(took).toBeGreaterThan(2)
    expect(jobState(j)).toBe("COMPLETED")
    expect(showNode("dcl5")).toBeNull()
    stopVm("dcl5")
  })

  it("a VM that registered its node itself: accepted with the right features, refused with others", async () => {
    const c = await service()
    startVm("dcl6", "selfreg", "dcl6", 2, "dyntest")
    startVm("dcl7", "selfreg", "dcl7", 2, "elsewhere")
    await waitFor("dcl6 and dcl7 registered", () => (showNode("dcl6")?.State?.startsWith("IDLE") && showNode("dcl7")?.State?.startsWith("IDLE") ? true : undefined), 20_000)
    await run(c.addNode(newNode("dcl6", null)))
    expect(await fails(c.addNode(newNode("dcl7", null)))).toMatch(/node dcl7 lacks feature\(s\) dyntest \(it has elsewhere\)/)
    await run(c.removeNode("dcl6", NONE))
    await run(c.removeNode("dcl7", NONE))
    expect([showNode("dcl6"), showNode("dcl7")]).toEqual([null, null])
    stopVm("dcl6")
    stopVm("dcl7")
  })

  it("a node whose slurmd never registers: addNode gives up after register_timeout; removal deletes the FUTURE node", async () => {
    const c = await service({ register_timeout: 2 })
    expect(await fails(c.addNode(newNode("dcl8", "127.201.1.250")))).toMatch(/node dcl8 registered by its slurmd not reached within 2s \(last: dcl8 is FUTURE/)
    expect(showNode("dcl8")).toMatchObject({ State: "FUTURE+DYNAMIC_NORM" })
    await run(c.removeNode("dcl8", NONE))
    expect(showNode("dcl8")).toBeNull()
  })

  it("garbage, errors reported by Slurm, timeouts and bad values are ClusterErrors; status says so", async () => {
    const unreachable = fileURLToPath(new URL("./fixtures/squeue_json_unreachable_slurm-22.05.8.json", import.meta.url))
    const garbled = await service({ sinfo_command: "echo {{not json" })
    expect(await fails(garbled.query)).toMatch(/sinfo --json: malformed JSON/)
    expect(await Effect.runPromise(garbled.status)).toEqual({ slurm: false })
    const errors = await service({ squeue_command: `cat ${unreachable}` })
    expect(await fails(errors.query)).toMatch(/Slurm reported errors: slurm_load_jobs/)
    // slurmctld on a port where nobody listens: squeue keeps trying, the layer gives up after command_timeout
    const dir = mkdtempSync(join(tmpdir(), "dyncluster-slurm-conf-"))
    writeFileSync(join(dir, "slurm.conf"), readFileSync(slurmEnv.SLURM_CONF, "utf8").replace(/^SlurmctldPort=\d+$/m, "SlurmctldPort=6999"))
    const slow = await service({ command_timeout: 1 }, { SLURM_CONF: join(dir, "slurm.conf") })
    expect(await Effect.runPromise(slow.status)).toEqual({ slurm: false })
    expect(await fails(slow.query)).toMatch(/(squeue|sinfo)_command: .*timed out after 1000 ms/)
    expect(await Effect.runPromise(slow.status)).toEqual({ slurm: false })
    rmSync(dir, { recursive: true, force: true })
    const c = await service()
    expect(await Effect.runPromise(c.status)).toEqual({ slurm: true })
    expect(await fails(c.holdNode("nosuchnode"))).toMatch(/hold_node_command .*failed/)
    expect(await fails(c.vacateNode("dcl1", ["1;reboot"]))).toMatch(/invalid jobid/)
    expect(await fails(c.addNode(newNode("-x", null)))).toMatch(/invalid hostname/)
    await run(c.removeNode("nosuchnode", NONE))
  })
})
