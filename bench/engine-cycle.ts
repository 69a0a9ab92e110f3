/**
 * engine-cycle: one full engine cycle (refresh the cluster view, act on every
 * node, min check, allocator) at 100 / 1,000 / 5,000 cloud nodes and 1k /
 * 10k / 100k queued jobs spread over 10 resources.
 *
 * The engine is the real one; the batch system and the clouds are the
 * recording layers (src/engine/services.ts) answering instantly with a fixed
 * picture, and tasks the engine
 * submits are recorded, never run, so every measured cycle sees the same
 * world. Each measurement is a fresh engine: a first step (auto mode off)
 * adopts every node, then the measured step does a whole cycle, allocator
 * included (a resource that already has boots in flight would skip it).
 * Then the "next" cycle: the same engine one auto_provision_interval later,
 * handed a new copy of the queue (new array, new job objects, as a batch
 * system's parser gives at every poll), with the boots of the first cycle in
 * flight: what a running daemon does at each decision (a policy with memory
 * updates what it keeps from the last view; the first decision of a fresh
 * policy has nothing to update).
 *
 *   npm run bench -- engine-cycle [--quick] [--json]
 *   BENCH_SIZES=5000x100000 BENCH_POLICIES=lean npm run bench -- engine-cycle
 */
import { Clock, Effect, Either, Layer, Runtime } from "effect"
import { engineContext, makeEngine, type Engine, type EngineEnv } from "../src/engine/engine.ts"
import { supportedPolicy, unknownPolicy, type Policy } from "../src/engine/policy.ts"
import { layerConstantChecker, layerNoHooks, layerRecordingCloud, layerRecordingCluster, type ClusterNode } from "../src/engine/services.ts"
import type { Apply, TaskRunner } from "../src/engine/tasks.ts"
import { decodeConfig } from "../src/model/config.ts"
import { emptyInstance, InstanceState, NodeState, makeJob, type Instance, type Job } from "../src/model/types.ts"
import { fmt, machineNote, quantile, showStats, stats, type Bench, type Reporter } from "./lib.ts"

const RESOURCES = 10
const CORES = 8
const T0 = 1_700_000_000

/** Time spent in the policy's decide() (the allocator), per call: wall and CPU ms. */
const allocatorMs: Array<number> = []
const allocatorCpuMs: Array<number> = []
const cpuMs = () => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}
/** The built-in policies measured: one row per policy and size. */
export const POLICIES: ReadonlyArray<string> = ["classic", "demand", "lean"]
/** `decide` timed (without `decideSteps`, which would bypass the timer: Policy.decideSteps). */
const timed = ({ decideSteps: _, ...p }: Policy): Policy => ({
  ...p,
  decide: (input) => {
    const t = performance.now()
    const c = cpuMs()
    const d = p.decide(input)
    allocatorCpuMs.push(cpuMs() - c)
    allocatorMs.push(performance.now() - t)
    return d
  }
})
/**
 * `bench-NAME`: the policy NAME with its decide() timed. A policy with memory
 * is instantiated by the engine (a fresh copy per engine): the copy is timed
 * too (wrapping only the registered object's decide timed nothing for demand
 * and lean, whose engine-made copy decided).
 */
const benchPolicy = (name: string): Policy => {
  const p = supportedPolicy(name)
  if (p === undefined) throw new Error(unknownPolicy(name))
  const inst = p.instantiate
  return { ...timed(p), ...(inst !== undefined ? { instantiate: () => timed(inst()) } : {}) }
}

interface World {
  /** The engine's services: a fixed cluster view and fixed instances (recording layers whose records go nowhere). */
  readonly services: Layer.Layer<EngineEnv>
  readonly config: ReturnType<typeof configFor>
  /** The policy, decide() timed. */
  readonly policy: Policy
  /** The next cluster view hands over a new copy of the queue (same jobs, new array and objects). */
  readonly newQueue: () => void
}

const configFor = (nodes: number, policy: string) => {
  const per = Math.ceil(nodes / RESOURCES)
  const d = decodeConfig(
    {
      "dynamic-cluster": {
        policy,
        // no node becomes idle-retirable or late during the measurement
        max_idle_time: 1e9,
        max_launch_time: 1e9,
        cluster_poller_interval: 10,
        cloud_poller_interval: 20,
        auto_provision_interval: 60
      },
      cluster: { type: "simulated", config: { queued_job_number_to_display: 0 } },
      cloud: Object.fromEntries(
        Array.from({ length: RESOURCES }, (_, k) => [
          `r${k}`,
          {
            type: "simulated",
            priority: 1 + (k % 3),
            // room to grow by 20%: the allocator has real work to do
            quantity: { min: 0, max: Math.ceil(per * 1.2) },
            reservation: { queue: `q${k}`, account: null, property: null },
            // priced, half billed per started hour: lean's trade-off knob (wait_value) weighs its boots, as for a user with prices
            price: 0.1 + 0.05 * k,
            billing: k % 2 === 0 ? { per: "second", minimum: 60 } : { per: "hour" },
            config: { instance_name_prefix: `r${k}-` }
          }
        ])
      )
    },
    "engine-cycle"
  )
  if (Either.isLeft(d)) throw new Error(d.left.message)
  return d.right.config
}

/** A fixed cluster of `nodes` cloud nodes (90% Busy, 10% Idle) and `jobs` queued jobs over the 10 resources' queues. */
export const makeWorld = (nodes: number, jobs: number, policy = "classic"): World => {
  const instances: Array<Array<Instance>> = Array.from({ length: RESOURCES }, () => [])
  const clusterNodes: Array<ClusterNode> = []
  for (let i = 0; i < nodes; i++) {
    const k = i % RESOURCES
    const name = `r${k}-${i}`
    instances[k].push({
      ...emptyInstance(`r${k}`, T0 - 3600),
      uuid: `u-${i}`,
      instance_name: name,
      state: InstanceState.Active,
      dns_name: name,
      ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      vcpu_number: CORES,
      last_task_result: 0,
      availability_zone: "bench"
    })
    const busy = i % 10 !== 0
    clusterNodes.push({
      hostname: name,
      state: busy ? NodeState.Busy : NodeState.Idle,
      jobs: busy ? `run${i}` : null,
      num_proc: CORES,
      extra_attributes: null
    })
  }
  const queued: Array<Job> = []
  for (let j = 0; j < jobs; j++) {
    // deterministic variety: sizes 1..16 cores (some spread, some per node), priorities in 100 levels
    const cores = 1 + ((j * 7919) % 16)
    queued.push(
      makeJob({
        jobid: `${j}.bench`,
        queue: `q${j % RESOURCES}`,
        priority: (j * 104729) % 100,
        requested_cores: cores,
        cores_per_node: j % 3 === 0 ? 0 : Math.min(cores, CORES),
        creation_time: String(T0 - j)
      })
    )
  }
  const ignore = () => {}
  // (the recording cluster answers with this object: newQueue swaps its queue)
  const view: { nodes: ReadonlyArray<ClusterNode>; jobs: ReadonlyArray<Job> } = { nodes: clusterNodes, jobs: queued }
  const services = Layer.mergeAll(
    layerRecordingCluster(view, ignore, { bench: true }),
    layerRecordingCloud({ instances: (r) => instances[Number(r.slice(1))] ?? [], cores: () => CORES }, ignore),
    layerConstantChecker(true),
    layerNoHooks
  )
  return {
    services,
    config: configFor(nodes, policy),
    policy: benchPolicy(policy),
    newQueue: () => {
      view.jobs = queued.map((j) => ({ ...j }))
    }
  }
}

/** Tasks are recorded, never run: every cycle sees the same world. */
const recordingRunner = (): TaskRunner & { submitted: number } => {
  const r = {
    submitted: 0,
    submit: () =>
      Effect.sync(() => {
        r.submitted++
      }),
    drain: (): ReadonlyArray<Apply> => [],
    stats: () => ({ waiting: 0, running: 0, results_pending: 0 })
  }
  return r
}

export interface CycleSample {
  readonly cycleMs: number
  /** CPU time of the cycle: on a machine shared with other work, closer to what it costs than wall time. */
  readonly cycleCpuMs: number
  readonly allocatorMs: number
  readonly allocatorCpuMs: number
  readonly tasks: number
  /** The next cycle (one auto_provision_interval later, a new copy of the queue, the first cycle's boots in flight). */
  readonly next: { readonly cycleMs: number; readonly cycleCpuMs: number; readonly allocatorMs: number; readonly allocatorCpuMs: number }
}

/** One fresh engine on `w`: adopt every node, then time one full cycle. */
export const measureCycle = (w: World): CycleSample => {
  let now = T0
  const clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now * 1000,
    currentTimeMillis: Effect.sync(() => now * 1000),
    unsafeCurrentTimeNanos: () => BigInt(now * 1000) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now * 1000) * 1_000_000n),
    sleep: () => Effect.dieMessage("no sleeping in the benchmark")
  } as unknown as Clock.Clock
  const rt = Effect.runSync(Effect.runtime<EngineEnv>().pipe(Effect.provide(engineContext(w.services)), Effect.withClock(clock)))
  const run = Runtime.runSync(rt)
  const tasks = recordingRunner()
  const engine: Engine = run(makeEngine({ config: w.config, tasks, policy: w.policy }))
  run(engine.api.setAuto(false))
  run(engine.step) // start-up recovery: adopts every node
  run(engine.api.setAuto(true))
  now += 3600
  const before = tasks.submitted
  const timedStep = () => {
    allocatorMs.length = 0
    allocatorCpuMs.length = 0
    const t = performance.now()
    const c = cpuMs()
    run(engine.step)
    const cycleCpuMs = cpuMs() - c
    const cycleMs = performance.now() - t
    const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
    return { cycleMs, cycleCpuMs, allocatorMs: sum(allocatorMs), allocatorCpuMs: sum(allocatorCpuMs) }
  }
  const first = timedStep()
  const submitted = tasks.submitted - before
  w.newQueue()
  now += w.config["dynamic-cluster"].auto_provision_interval
  const next = timedStep()
  return { ...first, tasks: submitted, next }
}

export const engineCycle: Bench = {
  name: "engine-cycle",
  description: "one engine cycle (view, every node, min, policy decision) per built-in policy at 100–5,000 nodes × 1k–100k queued jobs: median, p99, decide() share",
  run: async (r: Reporter) => {
    const quick = r.options.quick
    const all: Array<[number, number]> = quick
      ? [
          [100, 1_000],
          [1_000, 10_000]
        ]
      : [100, 1_000, 5_000].flatMap((n) => [1_000, 10_000, 100_000].map((j): [number, number] => [n, j]))
    // BENCH_SIZES=5000x100000[,NxJ...]: only these sizes (e.g. the target's)
    const sizes = process.env.BENCH_SIZES?.trim()
      ? process.env.BENCH_SIZES.split(",").map((x): [number, number] => {
          const [n, j] = x.split("x").map(Number)
          if (!(n > 0 && j >= 0)) throw new Error(`BENCH_SIZES: "${x}" is not NODESxJOBS (e.g. 5000x100000)`)
          return [n, j]
        })
      : all
    const only = process.env.BENCH_POLICIES?.split(",").filter((p) => p.length > 0)
    const policies = only !== undefined && only.length > 0 ? only : POLICIES
    r.note(`engine-cycle: ${sizes.length} size(s) × ${policies.join(", ")}; ${machineNote()}`)
    const rows: Array<Array<string>> = []
    for (const [nodes, jobs] of sizes) {
      for (const policy of policies) {
        const w = makeWorld(nodes, jobs, policy)
        const big = nodes * jobs >= 1e8
        const warmup = quick ? 1 : big ? 2 : 5
        const reps = quick ? 3 : big ? 15 : nodes * jobs >= 1e7 ? 25 : 50
        for (let i = 0; i < warmup; i++) measureCycle(w)
        const samples: Array<CycleSample> = []
        for (let i = 0; i < reps; i++) samples.push(measureCycle(w))
        const cyc = samples.map((s) => s.cycleMs)
        const cycCpu = samples.map((s) => s.cycleCpuMs)
        const alloc = samples.map((s) => s.allocatorMs)
        const share = samples.map((s) => (s.cycleCpuMs > 0 ? Math.min(1, s.allocatorCpuMs / s.cycleCpuMs) : 0))
        const nxt = samples.map((s) => s.next.cycleMs)
        const nxtShare = samples.map((s) => (s.next.cycleCpuMs > 0 ? Math.min(1, s.next.allocatorCpuMs / s.next.cycleCpuMs) : 0))
        const params = { policy, nodes, jobs, resources: RESOURCES }
        r.figure("cycle", cyc, "ms", params)
        r.figure("cycle_p99", quantile(cyc, 0.99), "ms", { ...params, n: cyc.length })
        r.figure("cycle_cpu", cycCpu, "ms", params)
        r.figure("cycle_cpu_p99", quantile(cycCpu, 0.99), "ms", { ...params, n: cyc.length })
        r.figure("decide", alloc, "ms", params)
        r.figure("decide_cpu", samples.map((s) => s.allocatorCpuMs), "ms", params)
        r.figure("decide_share", share, "ratio", params)
        r.figure("boots_proposed", samples[0].tasks, "tasks", params)
        r.figure("next_cycle", nxt, "ms", params)
        r.figure("next_cycle_p99", quantile(nxt, 0.99), "ms", { ...params, n: nxt.length })
        r.figure("next_cycle_cpu", samples.map((s) => s.next.cycleCpuMs), "ms", params)
        r.figure("next_decide", samples.map((s) => s.next.allocatorMs), "ms", params)
        r.figure("next_decide_share", nxtShare, "ratio", params)
        const s = stats(cyc)
        const sc = stats(cycCpu)
        const sn = stats(nxt)
        const snc = stats(samples.map((s) => s.next.cycleCpuMs))
        rows.push([
          policy,
          fmt(nodes),
          fmt(jobs),
          showStats(s, " ms"),
          `${fmt(s.p99)} ms`,
          showStats(sc, " ms"),
          `${fmt(sc.p99)} ms`,
          showStats(stats(alloc), " ms"),
          `${Math.round(stats(share).median * 100)}% cpu`,
          fmt(samples[0].tasks),
          showStats(sn, " ms"),
          `${fmt(sn.p99)} ms`,
          showStats(snc, " ms"),
          `${Math.round(stats(nxtShare).median * 100)}% cpu`,
          String(reps)
        ])
      }
    }
    r.table(["policy", "nodes", "queued jobs", "cycle wall median (min–max)", "p99", "cycle CPU median (min–max)", "p99", "decide() wall", "decide share", "boots proposed", "next cycle wall median (min–max)", "p99", "next cycle CPU median (min–max)", "next decide share", "runs"], rows)
  }
}
