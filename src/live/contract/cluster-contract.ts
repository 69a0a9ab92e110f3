/**
 * The contract of the Cluster service (src/engine/services.ts), written once
 * against the interface and registered as vitest tests for every
 * implementation: the simulated layer, Torque/Maui on recorded outputs and
 * Grid Engine for real. What the engine relies on: a query answers; a node
 * added with addNode shows up Idle; hold → Held (Holding while jobs run);
 * unhold → Idle; vacate kills the node's jobs; remove → gone; every failure
 * is a ClusterError value, never an exception or a defect.
 */
import { Cause, Effect, Exit } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { ClusterError, type ClusterNode, type ClusterService, type ClusterView, type NewNode } from "../../engine/services.ts"
import { JobState, jobList, NodeState, NodeStateNames } from "../../model/types.ts"

export interface ContractHarness {
  readonly cluster: ClusterService
  /**
   * A machine that can join the cluster (a booted simulated instance, a
   * name the recorded Torque accepts, a running Grid Engine exec host): what
   * the engine would pass to instanceActive/addNode.
   */
  readonly newNode: () => Promise<NewNode>
  /**
   * The machine finishes its contextualisation (between instanceActive and
   * addNode, as in the engine): Grid Engine starts the execd here.
   */
  readonly contextualise?: (nn: NewNode) => Promise<void>
  /** Starts one job on `host` (which is Idle); returns its id. */
  readonly runJobOn: (host: string) => Promise<string>
  /** Lets the batch system catch up (advances virtual time or waits a moment). */
  readonly settle: () => Promise<void>
  readonly close: () => Promise<void>
}

export interface ContractTarget {
  readonly name: string
  /** A reason to skip (the system is missing), or null to run. */
  readonly skip: string | null
  readonly make: () => Promise<ContractHarness>
  /** How many settle+query rounds to wait for a state before failing (default 20). */
  readonly rounds?: number
  /** Per-test timeout in ms (default 30 s). */
  readonly timeoutMs?: number
}

const run = <A>(eff: Effect.Effect<A, ClusterError>): Promise<A> =>
  Effect.runPromise(eff.pipe(Effect.mapError((e) => new Error(`${e._tag} (${e.op}): ${e.message}`))))

/** Runs the effect and returns its error, checking it is a ClusterError failure (not a defect or interruption). */
const failureOf = async (eff: Effect.Effect<unknown, ClusterError>): Promise<ClusterError> => {
  const exit = await Effect.runPromiseExit(eff)
  if (Exit.isSuccess(exit)) throw new Error("expected a ClusterError, the call succeeded")
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") throw new Error(`expected a ClusterError failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

const show = (n: ClusterNode | undefined) => (n === undefined ? "absent" : `${NodeStateNames[n.state]} jobs=${n.jobs ?? "-"}`)

export const clusterContract = (target: ContractTarget): void => {
  const rounds = target.rounds ?? 20
  const timeout = target.timeoutMs ?? 30_000
  if (target.skip !== null) console.warn(`[Cluster contract: ${target.name}] skipped: ${target.skip}`)

  describe.skipIf(target.skip !== null)(`Cluster contract: ${target.name}`, () => {
    let h: ContractHarness
    beforeEach(async () => {
      h = await target.make()
    }, timeout)
    afterEach(async () => {
      await h?.close()
    }, timeout)

    /** Queries until `pred` holds for the node (or rounds run out), returning the last view. */
    const until = async (host: string, what: string, pred: (n: ClusterNode | undefined) => boolean): Promise<ClusterNode | undefined> => {
      let last: ClusterNode | undefined
      for (let i = 0; i < rounds; i++) {
        const view: ClusterView = await run(h.cluster.query)
        last = view.nodes.find((n) => n.hostname === host)
        if (pred(last)) return last
        await h.settle()
      }
      throw new Error(`${host}: expected ${what} within ${rounds} rounds, last seen ${show(last)}`)
    }
    const join = async (): Promise<NewNode> => {
      const nn = await h.newNode()
      await run(h.cluster.instanceActive(nn))
      await h.contextualise?.(nn)
      await run(h.cluster.addNode(nn))
      await until(nn.hostname, "Idle", (n) => n?.state === NodeState.Idle)
      return nn
    }

    it("query answers with nodes and queued jobs, and the status says healthy", async () => {
      const view = await run(h.cluster.query)
      expect(Array.isArray(view.nodes)).toBe(true)
      for (const n of view.nodes) {
        expect(typeof n.hostname).toBe("string")
        expect(n.hostname.length).toBeGreaterThan(0)
        expect(NodeStateNames[n.state]).toBeDefined()
        expect(n.num_proc).toBeGreaterThanOrEqual(0)
        if (n.jobs !== null) expect(jobList(n.jobs).length).toBeGreaterThan(0)
      }
      for (const j of view.jobs) {
        expect(j.state).toBe(JobState.Queued)
        expect(j.requested_cores).toBeGreaterThan(0)
        expect(j.cores_per_node).toBeGreaterThanOrEqual(0)
      }
      const status = await Effect.runPromise(h.cluster.status)
      expect(Object.keys(status).length).toBeGreaterThan(0)
      for (const v of Object.values(status)) expect(v).toBe(true)
    }, timeout)

    it("a node added with addNode appears Idle with its cores", async () => {
      const nn = await h.newNode()
      const before = await run(h.cluster.query)
      expect(before.nodes.find((n) => n.hostname === nn.hostname && n.state === NodeState.Idle)).toBeUndefined()
      await run(h.cluster.instanceActive(nn))
      await h.contextualise?.(nn)
      await run(h.cluster.addNode(nn))
      const n = await until(nn.hostname, "Idle", (x) => x?.state === NodeState.Idle)
      expect(n!.jobs).toBeNull()
      expect(n!.num_proc).toBe(nn.cores)
    }, timeout)

    it("hold → Held, unhold → Idle", async () => {
      const nn = await join()
      await run(h.cluster.holdNode(nn.hostname))
      await until(nn.hostname, "Held", (n) => n?.state === NodeState.Held)
      await run(h.cluster.unholdNode(nn.hostname))
      await until(nn.hostname, "Idle", (n) => n?.state === NodeState.Idle)
    }, timeout)

    it("a held node keeps its running job (Holding or Held); vacate kills the job", async () => {
      const nn = await join()
      const job = await h.runJobOn(nn.hostname)
      const busy = await until(nn.hostname, `Busy with job ${job}`, (n) => n?.state === NodeState.Busy && n.jobs !== null)
      expect(jobList(busy!.jobs).some((j) => j === job || j.endsWith(`/${job}`))).toBe(true)
      await run(h.cluster.holdNode(nn.hostname))
      const held = await until(nn.hostname, "Holding or Held with its job", (n) => (n?.state === NodeState.Holding || n?.state === NodeState.Held) && n.jobs !== null)
      await run(h.cluster.vacateNode(nn.hostname, jobList(held!.jobs)))
      await until(nn.hostname, "Held without jobs", (n) => n?.state === NodeState.Held && n.jobs === null)
    }, timeout)

    it("remove → gone from the view", async () => {
      const nn = await join()
      await run(h.cluster.holdNode(nn.hostname))
      await until(nn.hostname, "Held", (n) => n?.state === NodeState.Held)
      await run(h.cluster.removeNode(nn.hostname, nn.reservation))
      await until(nn.hostname, "gone", (n) => n === undefined)
    }, timeout)

    it("failures are ClusterError values, never exceptions", async () => {
      for (const bad of ["x;touch /tmp/pwned", "$(id)", "-o", ""]) {
        const e = await failureOf(h.cluster.holdNode(bad))
        expect(e).toBeInstanceOf(ClusterError)
        expect(e.message.length).toBeGreaterThan(0)
      }
      expect(await failureOf(h.cluster.unholdNode("no-such-node-7f3a"))).toBeInstanceOf(ClusterError)
      expect(await failureOf(h.cluster.holdNode("no-such-node-7f3a"))).toBeInstanceOf(ClusterError)
      expect(await failureOf(h.cluster.vacateNode("no-such-node-7f3a;id", ["1"]))).toBeInstanceOf(ClusterError)
      expect(
        await failureOf(h.cluster.addNode({ hostname: "`id`", ip: null, cores: 1, resource: "r", reservation: { queue: null, account: null, property: null }, instanceName: null }))
      ).toBeInstanceOf(ClusterError)
    }, timeout)
  })
}
