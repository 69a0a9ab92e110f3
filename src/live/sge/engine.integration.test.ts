/**
 * End to end on the real Grid Engine: the engine (makeEngine, the real
 * Clock, the live task runner) with the SGE layer as its Cluster and a cloud
 * whose "VMs" are exec hosts in network namespaces (ci/sge/sge-node.sh):
 * booting one makes a machine whose name resolves; its configuration check
 * starts the execd (after the engine's instance-active hook declared the exec
 * host); destroying it removes the machine. Jobs submitted with qsub make the
 * cluster grow; when they have finished it shrinks back to nothing.
 *
 * Runs once per supported policy (policyNames()), one after the other, each
 * with a queue, host group and host names of its own; the checks hold for
 * any policy (one or two nodes for the two whole-node jobs, each retired).
 */
import { Clock, Context, Effect, Either } from "effect"
import { availableParallelism } from "node:os"
import { afterAll, beforeAll, expect, it } from "vitest"
import { makeEngine, type EngineLogEvent } from "../../engine/engine.ts"
import { CheckError, Checker, Cloud, CloudError, Cluster, Hooks, noHooks, type CloudService } from "../../engine/services.ts"
import { makeLiveTaskRunner } from "../../engine/tasks.ts"
import { emptyInstance, InstanceState, NodeState, NodeStateNames, type Instance } from "../../model/types.ts"
import { makeSgeClusterService, sgeSettings } from "./layer.ts"
import { describeWithSge, forgetHost, hostName, liveJobs, machineAsync, makeSgeTestbed, qconf, qdel, qsub, ranOnEventually, type SgeTestbed } from "./testing.ts"
import { configuredPolicy, policyNames } from "../../engine/policy.ts"

const RES = "sgecloud"
/** A policy's own short tag (its first letters): its queue dce2e<tag>.q, its hosts dce<tag><run>-N. */
const tagOf = (policy: string) => policy.replace(/[^a-z]/g, "").slice(0, 4)
const cores = availableParallelism()

interface Vm {
  readonly name: string
  readonly created: number
  state: InstanceState
  execd: boolean
}

/** A cloud of exec-host machines; every boot, check and destroy is real work on this host. */
const makeExecHostCloud = (prefix: string) => {
  const vms = new Map<string, Vm>()
  let n = 0
  const now = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)
  const inst = (vm: Vm, t: number): Instance => {
    const active = vm.state === InstanceState.Active
    return {
      ...emptyInstance(RES, vm.created),
      uuid: vm.name,
      instance_name: vm.name,
      state: vm.state,
      dns_name: active ? vm.name : null,
      ip: null,
      vcpu_number: cores,
      last_update_time: t
    }
  }
  const cloudErr = (op: string) => (e: unknown) => new CloudError({ resource: RES, op, kind: "api", message: String(e) })
  const cloud: CloudService = {
    list: () => Effect.flatMap(now, (t) => Effect.succeed([...vms.values()].filter((v) => v.state !== InstanceState.Inexistent).map((v) => inst(v, t)))),
    boot: () =>
      Effect.gen(function* () {
        const t = yield* now
        const vm: Vm = { name: hostName(prefix, ++n), created: t, state: InstanceState.Pending, execd: false }
        vms.set(vm.name, vm)
        yield* Effect.tryPromise({ try: () => machineAsync.vm(vm.name), catch: cloudErr("boot") })
        return inst(vm, t)
      }),
    refresh: (i) =>
      Effect.flatMap(now, (t) => {
        const vm = vms.get(i.uuid ?? "")
        if (vm === undefined) return Effect.succeed({ ...i, state: InstanceState.Inexistent })
        // The machine was up when boot returned: the next look finds it Active.
        if (vm.state === InstanceState.Pending) vm.state = InstanceState.Active
        return Effect.succeed(inst(vm, t))
      }),
    destroy: (i) =>
      Effect.gen(function* () {
        const vm = vms.get(i.uuid ?? "")
        if (vm === undefined || vm.state === InstanceState.Inexistent) return
        yield* Effect.tryPromise({ try: () => machineAsync.destroy(vm.name), catch: cloudErr("destroy") })
        vm.state = InstanceState.Inexistent
      }),
    coresPerNode: () => Effect.succeed(cores)
  }
  /** Contextualisation: the VM's execd starts; it is Ready once Grid Engine sees its load. */
  const checker = {
    check: (i: Instance) =>
      Effect.gen(function* () {
        const vm = vms.get(i.uuid ?? "")
        if (vm === undefined) return false
        if (!vm.execd) {
          yield* Effect.tryPromise({
            try: () => machineAsync.execd(vm.name),
            catch: (e) => new CheckError({ instance: vm.name, message: String(e) })
          })
          vm.execd = true
        }
        return true
      })
  }
  return { cloud, checker, vms }
}

for (const policy of policyNames()) describeWithSge(`engine (policy ${policy}) + SGE layer + exec-host cloud (end to end)`, () => {
  const NAME = `dce2e${tagOf(policy)}`
  let tb: SgeTestbed
  const jobs: Array<string> = []
  let vms: Map<string, Vm> = new Map()

  beforeAll(() => {
    tb = makeSgeTestbed(NAME)
  }, 60_000)
  afterAll(() => {
    qdel(jobs)
    for (const name of vms.keys()) forgetHost(name, tb.group)
    tb.close()
  }, 60_000)

  it("grows for queued qsub jobs, runs them on the new exec hosts, and shrinks to nothing after they finish", async () => {
    const config = tb.config({
      dynamicCluster: {
        policy,
        cluster_poller_interval: 1,
        cloud_poller_interval: 1,
        auto_provision_interval: 1,
        max_idle_time: 3,
        max_launch_time: 120,
        worker_thread_number: 4
      },
      cloud: {
        [RES]: { type: "simulated", quantity: { min: 0, max: 2 }, reservation: { queue: `${NAME}.q` }, config: { instance_name_prefix: "dce" } }
      }
    })
    const settings = Either.getOrThrowWith(sgeSettings(config), (e) => new Error(e.message))
    const sge = Effect.runSync(makeSgeClusterService(settings))
    const world = makeExecHostCloud(`dce${tagOf(policy)}`)
    vms = world.vms
    const ctx = Context.make(Cluster, sge).pipe(Context.add(Cloud, world.cloud), Context.add(Checker, world.checker), Context.add(Hooks, noHooks))

    // Two jobs that each need a whole node (PE smp, $pe_slots, all of a host's cores).
    // max is 2: one node per job, or one node running them one after the other; classic
    // boots again for jobs still queued once the new hosts are Idle (it does not count
    // idle cores), and Grid Engine may take longer than one provisioning interval to
    // start the jobs there on a loaded machine.
    for (let i = 0; i < 2; i++) jobs.push(qsub({ queue: tb.queue, seconds: 4, pe: cores, name: `grow${i}` }))

    const log: Array<EngineLogEvent> = []
    const seen = { peak: 0, ranOnCloud: new Set<string>(), states: new Set<string>() }
    const t0 = Date.now()
    const program = Effect.gen(function* () {
      const tasks = yield* makeLiveTaskRunner(4, () => {})
      const engine = yield* makeEngine({ config, tasks, policy: configuredPolicy(config), log: (e) => log.push(e) })
      for (;;) {
        yield* engine.step
        const snap = yield* engine.api.snapshot
        const cloudNodes = snap.nodes.filter((n) => n.instance !== null)
        seen.peak = Math.max(seen.peak, cloudNodes.length)
        for (const n of cloudNodes) {
          seen.states.add(NodeStateNames[n.state])
          for (const j of (n.jobs ?? "").split(",")) if (jobs.includes(j)) seen.ranOnCloud.add(j)
        }
        // (qstat blocks this process for a moment: only asked once the cluster has shrunk)
        if (seen.peak > 0 && cloudNodes.length === 0) {
          const live = liveJobs()
          if (jobs.every((j) => !live.has(j))) return snap
        }
        // (generous: a loaded machine's qmaster takes up to 30 s per qconf)
        if (Date.now() - t0 > 240_000) {
          const live = liveJobs()
          return yield* Effect.dieMessage(
            `${policy}: no shrink after 240 s: nodes ${cloudNodes.map((n) => `${n.hostname}:${NodeStateNames[n.state]}`).join(" ")}; jobs alive ${jobs.filter((j) => live.has(j))}; log tail ${log.slice(-5).map((e) => e.msg).join(" | ")}`
          )
        }
        yield* Effect.sleep("300 millis")
      }
    }).pipe(Effect.scoped, Effect.provide(ctx))
    const final = await Effect.runPromise(program)
    console.log(`${policy}: grow and shrink took ${((Date.now() - t0) / 1000).toFixed(1)} s:\n` + log.map((e) => `  +${(e.t - log[0].t).toFixed(1)}s ${e.msg}`).join("\n"))

    // one or two nodes (max 2), every one booted, joined, retired after idling and destroyed
    const booted = final.counters.boots[RES]
    expect([1, 2]).toContain(booted)
    expect(world.vms.size).toBe(booted)
    expect(seen.peak).toBeGreaterThanOrEqual(1)
    expect(seen.peak).toBeLessThanOrEqual(2)
    // each job ran on a cloud node, as Grid Engine's accounting says (a 4 s job can start and end between two of
    // the engine's cluster polls on a loaded machine, so the engine need not have seen its node Busy)
    for (const j of jobs) {
      const host = await ranOnEventually(j)
      expect(world.vms.has(host ?? ""), `job ${j} ran on ${host}; the engine saw ${[...seen.ranOnCloud]} on cloud nodes`).toBe(true)
    }
    for (const s of ["Starting", "Held", "Deleting"]) expect(seen.states).toContain(s)
    expect(seen.states.has("Idle") || seen.states.has("Busy")).toBe(true)
    const msgs = log.map((e) => e.msg)
    expect(msgs.filter((m) => /is ready and joined the cluster/.test(m))).toHaveLength(booted)
    expect(msgs.some((m) => /^holding .*: idle for/.test(m))).toBe(true)
    expect(msgs.filter((m) => /→ Deleting: held with no jobs/.test(m))).toHaveLength(booted)
    // the batch system and the cloud are back to where they were
    const execHosts = qconf("-sel").split("\n")
    for (const name of world.vms.keys()) {
      expect(execHosts).not.toContain(name)
      expect(world.vms.get(name)!.state).toBe(InstanceState.Inexistent)
    }
    expect(qconf("-shgrp", tb.group)).toMatch(/hostlist\s+NONE/)
    expect(final.nodes.filter((n) => n.instance === null).every((n) => n.state !== NodeState.Error)).toBe(true)
  }, 270_000)
})
