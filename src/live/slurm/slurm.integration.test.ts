/**
 * The whole loop against a real Slurm 22.05 (ci/setup-30-slurm.sh) with the
 * real engine: sbatch jobs → the engine sees them queued → boots VMs (network
 * namespaces whose slurmd -Z registers the node dyncluster created) → the jobs
 * run and complete → the nodes idle past max_idle_time → drained, deleted,
 * their VMs destroyed. Job states are checked through squeue, the node
 * lifecycle through sinfo, as an administrator would see them.
 *
 * Runs once per supported policy (policyNames(): classic, demand, lean), one
 * after the other, each with nodes of its own prefix; the checks hold for
 * any policy (how many nodes boot and when a node counts as idle long enough
 * are the policy's business: at least one node, at most max, each retired).
 */
import { Effect, Either, Exit, Layer, Scope } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, expect, it } from "vitest"
import { makeEngine, type EngineLogEvent } from "../../engine/engine.ts"
import { Checker, Cloud, Cluster, Hooks, noHooks } from "../../engine/services.ts"
import { makeLiveTaskRunner } from "../../engine/tasks.ts"
import { parseConfigText } from "../../model/config.ts"
import { NodeStateNames } from "../../model/types.ts"
import { commandChecker } from "../checkers.ts"
import { makeSlurmClusterService } from "./cluster.ts"
import { slurmSettings } from "./config.ts"
import { makeNetnsCloud } from "./testing/netnsCloud.ts"
import { cleanupSlurm, describeWithSlurm, sbatch, sinfoNodes, slurmEnv, squeueStates, VM_SCRIPT, vmNamespaces } from "./testing/env.ts"
import { configuredPolicy, policyNames } from "../../engine/policy.ts"

/** Node names of one policy's run: dce + the policy's first letters (dceclas1, dcelean2, ...). */
const prefixOf = (policy: string) => `dce${policy.replace(/[^a-z]/g, "").slice(0, 4)}`
const POLICIES = policyNames()
if (new Set(POLICIES.map(prefixOf)).size !== POLICIES.length) throw new Error(`two policies share a node prefix: ${POLICIES.map(prefixOf)}`)

const configFor = (policy: string) => `
dynamic-cluster:
  policy: ${policy}
  auto_mode: true
  max_idle_time: 5
  max_launch_time: 120
  max_down_time: 120
  cluster_poller_interval: 1
  cloud_poller_interval: 1
  auto_provision_interval: 2
  worker_thread_number: 4
cluster:
  type: slurm
  config:
    queue_to_monitor: [dyn]
    poll_interval: 0.5
    register_timeout: 60
    drain_timeout: 60
cloud:
  e2e:
    type: simulated
    priority: 1
    quantity: {min: 0, max: 2}
`

interface Sample {
  readonly t: number
  readonly jobs: ReadonlyMap<string, string>
  readonly nodes: ReadonlyArray<{ name: string; state: string }>
  readonly engine: ReadonlyArray<{ host: string; state: string }>
}

let cleanup: () => void = () => {}
afterAll(() => cleanup())

describeWithSlurm("Slurm end to end: real slurmctld, real engine, VMs as network namespaces", () => {
  it.each(POLICIES)("policy %s: queued jobs grow the cluster, the jobs run, idle nodes are drained, deleted and destroyed", async (policy) => {
    const PREFIX = prefixOf(policy)
    const stateDir = mkdtempSync(join(tmpdir(), "dyncluster-slurm-e2e-"))
    const cloud = makeNetnsCloud({ script: VM_SCRIPT, stateDir, prefix: PREFIX, mode: "dynamic", cores: 2, memMb: 1000, env: slurmEnv })
    const jobs: Array<string> = []
    cleanup()
    cleanup = () => {
      Effect.runSync(Effect.ignore(cloud.destroyAll))
      cleanupSlurm({ prefix: PREFIX, jobs })
    }
    cleanupSlurm({ prefix: PREFIX })

    const config = Either.getOrThrow(parseConfigText(configFor(policy))).config
    const settings = Either.getOrThrow(slurmSettings(config))
    const log: Array<EngineLogEvent> = []
    const scope = Effect.runSync(Scope.make())

    const engine = await Effect.runPromise(
      Effect.gen(function* () {
        const cluster = yield* makeSlurmClusterService(settings, { env: slurmEnv })
        const tasks = yield* makeLiveTaskRunner(4, () => {})
        const services = Layer.mergeAll(
          Layer.succeed(Cluster, cluster),
          Layer.succeed(Cloud, cloud),
          Layer.succeed(Checker, commandChecker(`bash ${VM_SCRIPT} ready {2}`, 10)),
          Layer.succeed(Hooks, noHooks)
        )
        const engine = yield* makeEngine({ config, tasks, policy: configuredPolicy(config), log: (e) => log.push(e) }).pipe(Effect.provide(services))
        const loop = Effect.forever(Effect.zipRight(engine.step, Effect.sleep("200 millis"))).pipe(Effect.provide(services))
        yield* Effect.forkIn(loop, scope)
        return engine
      }).pipe(Scope.extend(scope))
    )

    const samples: Array<Sample> = []
    const t0 = performance.now()
    const sample = async (): Promise<Sample> => {
      const snap = await Effect.runPromise(engine.api.snapshot)
      const s: Sample = {
        t: (performance.now() - t0) / 1000,
        jobs: squeueStates(),
        nodes: sinfoNodes().filter((n) => n.name.startsWith(PREFIX)),
        engine: snap.nodes.filter((n) => n.hostname.startsWith(PREFIX)).map((n) => ({ host: n.hostname, state: NodeStateNames[n.state] }))
      }
      samples.push(s)
      return s
    }

    try {
      // two jobs of the monitored partition: 2 CPUs and 1 CPU on 2-CPU nodes (max 2: one or two nodes, as the policy sees fit)
      jobs.push(sbatch(["-p", "dyn", "-J", "e2e-a", "-n", "2", "--wrap", "sleep 4"]))
      jobs.push(sbatch(["-p", "dyn", "-J", "e2e-b", "-n", "1", "--wrap", "sleep 4"]))
      let finished: Sample | undefined
      while (finished === undefined) {
        const s = await sample()
        const allDone = jobs.every((j) => s.jobs.get(j) === "COMPLETED")
        const sawNodes = samples.some((x) => x.nodes.length > 0)
        if (allDone && sawNodes && s.nodes.length === 0 && cloud.records().length === 0 && s.engine.length === 0) finished = s
        else if (s.t > 115) throw new Error(`${policy}: not finished after 115 s; last sample ${JSON.stringify({ ...s, jobs: Object.fromEntries(s.jobs) })}\nengine log:\n${log.map((e) => `${e.t.toFixed(1)} ${e.level} ${e.msg}`).join("\n")}`)
        else await new Promise((r) => setTimeout(r, 200))
      }

      // ---- what the administrator saw
      const first = (pred: (s: Sample) => boolean) => samples.find(pred)?.t ?? NaN
      const jobSeq = (j: string) => [...new Set(samples.map((s) => s.jobs.get(j)).filter((x) => x !== undefined))]
      // Slurm may show COMPLETING for a moment between RUNNING and COMPLETED (the epilog
      // and the node's clean-up); that is the only transient state accepted, and only there.
      for (const j of jobs) expect(jobSeq(j).join(" ")).toMatch(/^PENDING RUNNING (COMPLETING )?COMPLETED$/)
      const nodeNames = [...new Set(samples.flatMap((s) => s.nodes.map((n) => n.name)))].sort()
      // one node or two (max 2), named by the cloud
      expect(nodeNames.length).toBeGreaterThanOrEqual(1)
      expect(nodeNames.length).toBeLessThanOrEqual(2)
      for (const name of nodeNames) expect(name).toMatch(new RegExp(`^${PREFIX}[12]$`))
      let ranJobs = 0
      for (const name of nodeNames) {
        const seq = samples.map((s) => s.nodes.find((n) => n.name === name)?.state ?? "-")
        const compact = seq.filter((x, i) => i === 0 || x !== seq[i - 1])
        // absent → registered idle or at once running → back to idle → drained by the hold → deleted
        expect(compact[0]).toBe("-")
        expect(compact.at(-1)).toBe("-")
        expect(compact, name).toContain("IDLE+DRAIN")
        const busy = compact.findIndex((x) => x === "ALLOCATED" || x === "MIXED")
        const drained = compact.indexOf("IDLE+DRAIN")
        if (busy >= 0) {
          ranJobs++
          expect(drained).toBeGreaterThan(busy)
          expect(compact.slice(busy + 1, drained)).toContain("IDLE")
        }
        // the engine's view of the same node: Starting → ... → Held → Deleting
        const eseq = samples.map((s) => s.engine.find((n) => n.host === name)?.state ?? "-")
        const ecompact = eseq.filter((x, i) => i === 0 || x !== eseq[i - 1])
        expect(ecompact, name).toEqual(expect.arrayContaining(["Starting", "Held", "Deleting"]))
        if (busy >= 0) expect(ecompact.indexOf("Busy")).toBeLessThan(ecompact.lastIndexOf("Held"))
      }
      // the jobs ran on the cloud nodes (the partition has no other)
      expect(ranJobs).toBeGreaterThanOrEqual(1)
      const snap = await Effect.runPromise(engine.api.snapshot)
      expect(snap.counters.boots.e2e).toBe(nodeNames.length)
      expect(snap.counters.destroys.e2e).toBe(nodeNames.length)
      expect(vmNamespaces(PREFIX)).toEqual([])

      const tIdle = first((s) => s.nodes.some((n) => n.state === "IDLE" || n.state === "MIXED" || n.state === "ALLOCATED"))
      const tRun = first((s) => jobs.every((j) => ["RUNNING", "COMPLETING", "COMPLETED"].includes(s.jobs.get(j) ?? "")))
      const tRun1 = first((s) => jobs.some((j) => s.jobs.get(j) === "RUNNING"))
      const tDone = first((s) => jobs.every((j) => s.jobs.get(j) === "COMPLETED"))
      const tDrained = first((s) => s.nodes.some((n) => n.state === "IDLE+DRAIN"))
      console.log(
        `[slurm e2e ${policy}] timings from sbatch: first node in Slurm ${tIdle.toFixed(1)} s, first job RUNNING ${tRun1.toFixed(1)} s, ` +
          `both RUNNING ${tRun.toFixed(1)} s, both COMPLETED ${tDone.toFixed(1)} s, first node drained ${tDrained.toFixed(1)} s, ` +
          `all nodes deleted and VMs destroyed ${finished.t.toFixed(1)} s; ${nodeNames.length} node(s)`
      )
      const tSubmit = (t0 + performance.timeOrigin) / 1000
      console.log(`[slurm e2e ${policy}] engine log (s after sbatch):\n${log.filter((e) => e.level !== "debug").map((e) => `  ${(e.t - tSubmit).toFixed(1)} ${e.level} ${e.msg}`).join("\n")}`)
      // a node joins Slurm before a job runs there; the first job runs on a cloud node within a minute
      expect(tIdle).toBeLessThan(tRun1 + 0.5)
      expect(tRun1).toBeLessThan(60)
      // each node was held (drained) only after it had run its jobs and idled (how long is the policy's idle limit), then
      // deleted and destroyed: within a minute of the last job's end
      expect(tDrained).toBeGreaterThan(tRun1)
      expect(finished.t - tDone).toBeLessThan(60)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }, 140_000)
})
