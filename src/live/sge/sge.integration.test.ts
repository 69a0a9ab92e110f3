/**
 * The SGE layer against the real Grid Engine of ci/setup-20-sge.sh: jobs
 * submitted with qsub are seen queued with the right cores, an exec host
 * (a network namespace running sge_execd) is declared at Active and enabled
 * at Ready, runs the jobs, is held and unheld, and removed; a dead host's
 * jobs are force-deleted. (Vacating is in the Cluster contract, which also
 * runs on this Grid Engine: src/live/contract/sge.contract.test.ts.) Skips visibly without Grid Engine, fails
 * when CI=true.
 */
import { Cause, Effect, Either, Exit } from "effect"
import { availableParallelism } from "node:os"
import { afterAll, beforeAll, expect, it } from "vitest"
import { ClusterError, type ClusterService, type ClusterView, type NewNode } from "../../engine/services.ts"
import { JobState, NodeState, NodeStateNames, type Reservation } from "../../model/types.ts"
import { makeSgeClusterService, sgeSettings } from "./layer.ts"
import { describeWithSge, forgetHost, hostName, liveJobs, machine, makeSgeTestbed, qconf, qsub, sleep, type SgeTestbed } from "./testing.ts"

const NAME = "dcint"
const HOST = hostName("dci", 1)
const DEAD = hostName("dci", 2)
const cores = availableParallelism()

describeWithSge("SGE layer on the real Grid Engine", () => {
  let tb: SgeTestbed
  let cluster: ClusterService
  const submitted: Array<string> = []

  const run = <A>(eff: Effect.Effect<A, ClusterError>) => Effect.runPromise(eff)
  const view = () => run(cluster.query)
  const node = (v: ClusterView, h: string) => v.nodes.find((n) => n.hostname === h)
  /** Polls the view every 0.5 s until `pred` holds. */
  const until = async (what: string, pred: (v: ClusterView) => boolean, ms = 20_000): Promise<ClusterView> => {
    const end = Date.now() + ms
    let v = await view()
    while (!pred(v)) {
      if (Date.now() > end) {
        const hosts = v.nodes.filter((n) => n.hostname.startsWith("dci")).map((n) => `${n.hostname}:${NodeStateNames[n.state]}:${n.jobs ?? "-"}`)
        throw new Error(`timed out waiting for ${what}; hosts ${hosts.join(" ")}; queued ${v.jobs.map((j) => j.jobid).join(",")}`)
      }
      await sleep(500)
      v = await view()
    }
    return v
  }
  const sub = (o: Parameters<typeof qsub>[0]) => {
    const id = qsub(o)
    submitted.push(id)
    return id
  }
  const newNode = (hostname: string, reservation: Reservation): NewNode => ({ hostname, ip: null, cores, resource: "sge-test", reservation, instanceName: hostname })

  beforeAll(() => {
    tb = makeSgeTestbed(NAME)
    forgetHost(HOST, tb.group)
    forgetHost(DEAD, tb.group)
    const s = Either.getOrThrowWith(sgeSettings(tb.config()), (e) => new Error(e.message))
    cluster = Effect.runSync(makeSgeClusterService(s))
  }, 60_000)

  afterAll(() => {
    // sge-queue.sh del force-deletes the queue's jobs first
    forgetHost(HOST, tb.group)
    forgetHost(DEAD, tb.group)
    tb.close()
  }, 60_000)

  it("query: hosts from qhost -q -j -xml, the status says sge true", async () => {
    const v = await view()
    const local = v.nodes.find((n) => n.hostname === "localhost")
    expect(local).toBeDefined()
    expect(local!.num_proc).toBeGreaterThan(0)
    expect([NodeState.Idle, NodeState.Busy, NodeState.Held]).toContain(local!.state)
    expect(await Effect.runPromise(cluster.status)).toEqual({ sge: true })
  })

  it("jobs submitted with qsub are queued with their cores, queue, walltime and a priority", async () => {
    const pe = sub({ queue: tb.queue, seconds: 2, pe: 2, name: "pe2" })
    const one = sub({ queue: tb.queue, seconds: 2, name: "one", extra: ["-l", "h_rt=0:10:0"] })
    const v = await until("both jobs queued", (x) => [pe, one].every((id) => x.jobs.some((j) => j.jobid === id)))
    const jp = v.jobs.find((j) => j.jobid === pe)!
    const j1 = v.jobs.find((j) => j.jobid === one)!
    // PE smp has allocation_rule $pe_slots: all slots on one host
    expect([jp.state, jp.requested_cores, jp.cores_per_node, jp.queue, jp.name, jp.owner]).toEqual([JobState.Queued, 2, 2, tb.queue, "pe2", "root"])
    // Grid Engine prints h_rt in seconds
    expect([j1.requested_cores, j1.cores_per_node, j1.queue, j1.requested_walltime]).toEqual([1, 1, tb.queue, "600"])
    expect(typeof j1.priority).toBe("number")
    expect(Number(j1.creation_time)).toBeGreaterThan(Date.now() / 1000 - 600)
  })

  it("an exec host is declared at Active (Starting, queues disabled) and enabled at Ready; the queued jobs run there and finish", async () => {
    const waiting = [...submitted]
    machine.vm(HOST)
    const nn = newNode(HOST, { queue: tb.queue, account: null, property: null })
    await run(cluster.instanceActive(nn))
    expect(qconf("-sel").split("\n")).toContain(HOST)
    expect(qconf("-shgrp", tb.group)).toContain(HOST)
    let v = await view()
    expect(node(v, HOST)?.state).toBe(NodeState.Starting) // no execd yet (u), but the scaler started it
    expect((node(v, HOST)!.extra_attributes!.queues as Record<string, string>)[tb.queue]).toContain("d")
    machine.execd(HOST) // the machine's contextualisation
    await sleep(2000)
    v = await view()
    expect(waiting.every((id) => v.jobs.some((j) => j.jobid === id))).toBe(true) // disabled: nothing runs there yet
    await run(cluster.addNode(nn))
    v = await until(`${HOST} runs the 2-core job`, (x) => node(x, HOST)?.state === NodeState.Busy)
    expect(node(v, HOST)!.num_proc).toBe(cores)
    await until("all queued jobs ran and finished", (x) => node(x, HOST)?.state === NodeState.Idle && !waiting.some((id) => x.jobs.some((j) => j.jobid === id)) && waiting.every((id) => !liveJobs().has(id)), 40_000)
  }, 60_000)

  it("hold → Held and new jobs stay queued; unhold → Idle and they run", async () => {
    await run(cluster.holdNode(HOST))
    await until(`${HOST} Held`, (x) => node(x, HOST)?.state === NodeState.Held)
    const j = sub({ queue: tb.queue, seconds: 1 })
    await sleep(2500)
    expect((await view()).jobs.some((x) => x.jobid === j)).toBe(true)
    await run(cluster.unholdNode(HOST))
    await until(`job ${j} to run and finish`, (x) => !x.jobs.some((y) => y.jobid === j) && !liveJobs().has(j), 30_000)
    expect(node(await view(), HOST)?.state).toBe(NodeState.Idle)
  }, 45_000)

  it("remove: slots unset, host group left, exec host deleted; it is gone from the view", async () => {
    await run(cluster.holdNode(HOST))
    await run(cluster.removeNode(HOST, { queue: tb.queue, account: null, property: null }))
    expect(qconf("-sel").split("\n")).not.toContain(HOST)
    expect(qconf("-shgrp", tb.group)).not.toContain(HOST)
    expect(qconf("-sq", tb.queue)).not.toContain(HOST)
    await until(`${HOST} gone`, (x) => node(x, HOST) === undefined)
    machine.destroy(HOST)
  }, 40_000)

  it("removing a host whose execd died force-deletes its jobs (account reservation = host group)", async () => {
    machine.vm(DEAD)
    const nn = newNode(DEAD, { queue: null, account: NAME, property: null }) // account "dcint" → host group @dcint
    await run(cluster.instanceActive(nn))
    machine.execd(DEAD)
    await run(cluster.addNode(nn))
    const j = sub({ queue: tb.queue, seconds: 600 })
    await until(`job ${j} running on ${DEAD}`, (x) => node(x, DEAD)?.jobs === j)
    machine.crash(DEAD) // the VM dies under its job
    // Grid Engine calls it unknown after max_unheard (20 s in ci/sge/sge-up.sh) at the latest
    const crashed = Date.now()
    await until(`${DEAD} unreachable`, (x) => node(x, DEAD)?.state === NodeState.Error, 50_000)
    console.log(`dead exec host noticed after ${((Date.now() - crashed) / 1000).toFixed(1)} s`)
    await run(cluster.removeNode(DEAD, nn.reservation))
    expect(liveJobs().has(j)).toBe(false)
    expect(qconf("-sel").split("\n")).not.toContain(DEAD)
    await until(`${DEAD} gone`, (x) => node(x, DEAD) === undefined)
    machine.destroy(DEAD)
  }, 90_000)

  it("a command Grid Engine refuses is a ClusterError carrying its message", async () => {
    const exit = await Effect.runPromiseExit(cluster.holdNode("no-such-host-5e1"))
    expect(Exit.isFailure(exit)).toBe(true)
    const f = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : null
    expect(f?._tag === "Some" && f.value).toBeInstanceOf(ClusterError)
    expect(f?._tag === "Some" && f.value.message).toContain('invalid queue "*@no-such-host-5e1"')
  })
})
