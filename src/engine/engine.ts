/**
 * The scaling engine of SPEC §3 and the operator actions of SPEC §5, written
 * once against the Cluster/Cloud/Checker/Hooks services. This module is the
 * wiring and the order of one step (docs/architecture.md):
 *
 *   observe  apply the task results, poll the cluster when due (view.ts),
 *            start-up recovery while a resource is not recovered (recovery.ts);
 *   decide   the rules (rules/*.ts) return decisions (decisions.ts): per
 *            node, then the min rule, then the provisioning pass when due;
 *   act      the actuator (actuation.ts) applies each decision in turn (its
 *            bookkeeping at once, so the next rule sees it) and queues its
 *            service calls, run in order at the end of the step.
 *
 * Slow calls go out as tasks whose results are applied at a later step.
 * Time comes only from Effect's Clock.
 */
import { Context, Effect, Layer } from "effect"
import { engineSettings, type ConfigFile, type EngineSettings } from "../model/config.ts"
import { makeApi } from "./actions.ts"
import { makeActuator } from "./actuation.ts"
import type { EngineApi } from "./api.ts"
import type { Decision, EngineDecision, JobDecision, NodeDecision, OperatorDecision, ResourceDecision, StepDecisions } from "./decisions.ts"
import { makeLock } from "./lock.ts"
import type { Policy, PolicyDecision } from "./policy.ts"
import { reconfigureState, type Reconfiguration } from "./reconfigure.ts"
import { makeRecovery } from "./recovery.ts"
import { makeReconciler, reconcileDue } from "./reconcile.ts"
import { explainDue, explainQueueSteps, maxRule, minRule, nodeRule, provisionDue, provisionProposalsSteps } from "./rules/index.ts"
import { Checker, Cloud, Cluster, Hooks } from "./services.ts"
import { makeSnapshot, type ShadowView } from "./snapshot.ts"
import { done, runSteps, type Steps } from "./steps.ts"
import { EngineState, type EngineLogEvent, type NodeRec } from "./state.ts"
import type { TaskRunner } from "./tasks.ts"
import { makeViewPoller } from "./view.ts"
import { makeWake } from "./wake.ts"

export type { EngineLogEvent, LogLevel, NodeRec, ResState } from "./state.ts"
export type { Decision, StepDecisions } from "./decisions.ts"

export type EngineEnv = Cluster | Cloud | Checker | Hooks

/**
 * The engine's services from a layer whose services need no resource kept
 * open (the simulator's layerSim, plan's and the benchmark's recording
 * layers), built once. The daemon builds its liveLayer in its own scope.
 */
export const engineContext = (layer: Layer.Layer<EngineEnv>): Context.Context<EngineEnv> => Effect.runSync(Effect.scoped(Layer.build(layer)))

export interface EngineOptions {
  readonly config: ConfigFile
  readonly tasks: TaskRunner
  readonly log?: (e: EngineLogEvent) => void
  /**
   * The policy, resolved by the caller: the daemon takes the supported one its
   * configuration names (policy.ts configuredPolicy), simulations may run an
   * experiment (src/experiments). dynamic-cluster.policy is not read here.
   */
  readonly policy: Policy
  /**
   * Called after each full step that decided anything, with its decisions in
   * the order they were applied (skipped steps decide nothing), and after each
   * operator action carried out (one decision with `by: "operator"`). For a
   * decision log or a dry run (docs/architecture.md, "Decisions and reason codes").
   */
  readonly onDecisions?: (d: StepDecisions) => void
  /**
   * Shadow mode (`run --dry-run`): the services are the shadow's
   * (dry-run.ts `dryRunContext`); the snapshot says so and keeps its
   * would-be nodes apart. The engine decides exactly as it would otherwise.
   */
  readonly shadow?: ShadowView
  /**
   * Run between the phases of a step that has a big queue to walk (after the
   * cluster view is applied, after the node rules, before and after the
   * policy's decision, before the queue's explanations) and between the
   * slices of the decision (Policy.decideSteps) and of the explanations
   * (steps.ts: every SLICE_JOBS jobs): the daemon's lets its event loop
   * answer HTTP requests meanwhile (when its time slice is used up, loop.ts
   * `slicedPause`), so that one step over 100,000 queued jobs does not hold
   * it in one piece. The engine's state does not
   * change during a pause (operator actions wait for the step's lock; task
   * results are applied at the next step). Absent (simulations, tests), a
   * step runs in one piece, exactly as without it.
   */
  readonly pause?: Effect.Effect<void>
}

export interface Engine {
  /** One pass of the loop at the Clock's current time. Never fails. */
  readonly step: Effect.Effect<void, never, EngineEnv>
  /** When (seconds since the epoch) the engine next has something due, without outside events. */
  readonly nextWake: () => number
  /** See wake.ts: whether a step at `now` would do nothing, given an unchanged world. */
  readonly canSkip: (now: number) => boolean
  readonly skipStep: (now: number) => void
  /** A step at `now` would query the cluster. */
  readonly pollDue: (now: number) => boolean
  readonly api: EngineApi
  readonly settings: EngineSettings
  /**
   * Reload: takes what of `config` can change while running (reconfigure.ts),
   * under the engine lock; `addable` says whether a new resource can be served
   * (its cloud exists). The caller drains the resources it reports removed.
   */
  readonly reconfigure: (config: ConfigFile, addable?: (resource: string) => boolean) => Effect.Effect<Reconfiguration>
  readonly policy: Policy
  /** The last policy decision (for `plan` and the dashboard). */
  readonly lastDecision: () => PolicyDecision | null
  /** The decisions of the last full step that decided anything (empty before). */
  readonly lastDecisions: () => StepDecisions
}

const noDecisions: StepDecisions = { t: 0, decisions: [] }

/** Two proposals (PolicyDecision.provision) with the same counts per resource; both absent counts as the same. */
const sameCounts = (a: ReadonlyMap<string, number> | undefined, b: ReadonlyMap<string, number> | undefined): boolean => {
  if (a === b) return true
  if (a === undefined || b === undefined || a.size !== b.size) return false
  for (const [k, v] of a) if (b.get(k) !== v) return false
  return true
}

export const makeEngine = (opts: EngineOptions): Effect.Effect<Engine, never, EngineEnv> =>
  Effect.gen(function* () {
    const settings = engineSettings(opts.config)
    // A policy with memory gets a fresh instance per engine (and per restart).
    const policy = opts.policy.instantiate?.() ?? opts.policy
    const ctx = yield* Effect.context<EngineEnv>()
    // The services, resolved once: steps and tasks use them directly, without
    // an Effect.provide or a service lookup each (bench/sim-trace, docs/performance.md).
    const cluster = Context.get(ctx, Cluster)
    const cloud = Context.get(ctx, Cloud)
    const st = new EngineState(opts.config, settings, policy, opts.tasks, opts.log)
    const lock = makeLock()
    const poller = makeViewPoller(st, cluster)
    const recover = makeRecovery(st, cloud, cluster)
    const reconcile = makeReconciler(st, cloud)
    const actuator = makeActuator(st, { cluster, cloud, checker: Context.get(ctx, Checker), hooks: Context.get(ctx, Hooks) })
    const wake = makeWake(st)
    const onDecisions = opts.onDecisions
    let lastDecisions = noDecisions
    /**
     * The pause (EngineOptions.pause), during which api.stamp gives the
     * paused state a version (lock.ts `pausing`): a new one when the step
     * may have changed what a snapshot shows since its last pause
     * (`changed`), else that pause's, so that the HTTP body cache keeps
     * serving through the slices of one walk of the queue.
     */
    const pauseWith = (changed: boolean): Effect.Effect<void> | undefined =>
      opts.pause === undefined
        ? undefined
        : Effect.zipRight(
            Effect.sync(() => lock.pausing(changed)),
            Effect.ensuring(
              opts.pause,
              Effect.sync(() => lock.resumed())
            )
          )
    const pause = pauseWith(true)
    /** Between two slices of a walk of the queue (which changes nothing a snapshot shows). */
    const slicePause = pauseWith(false)
    /** `next()` after the pause (EngineOptions.pause), or at once without one; `still`: nothing a snapshot shows changed since the last pause. */
    const afterPause = <A>(next: () => Effect.Effect<A>, still = false): Effect.Effect<A> => {
      const p = still ? slicePause : pause
      return p === undefined ? next() : Effect.zipRight(p, Effect.suspend(next))
    }
    /**
     * `steps` (steps.ts) run to their end, then `next(result)`: with a pause,
     * the pause between every two slices. A walk's slices change nothing a
     * snapshot shows; its last one may (the policy's decision), and `next`
     * runs right after it, before any pause.
     */
    const inSlices = <A, B>(steps: Steps<A>, next: (a: A) => Effect.Effect<B>): Effect.Effect<B> => {
      if (slicePause === undefined) return next(runSteps(steps))
      const go = (): Effect.Effect<B> => {
        const r = steps.next()
        return r.done === true ? next(r.value) : Effect.zipRight(slicePause, Effect.suspend(go))
      }
      return go()
    }

    // ------------------------------------------------------------ the step

    /**
     * One step: apply the task results, poll the cluster when due, recover,
     * then decide and act. Only the cluster poll, recovery and the decided
     * service calls are Effect operations.
     */
    const stepUnlocked: Effect.Effect<void> = Effect.clockWith((clock) => {
      // (the Clock's time read in the same operation: Clock.currentTimeMillis and a map would be three more per step)
      const now = clock.unsafeCurrentTimeMillis() / 1000
      st.currentNow = now
      st.counters.cycles++
      const before = st.effects
      const results = st.tasks.drain()
      for (const apply of results) apply(now)
      if (results.length > 0) st.effects++
      return wake.pollDue(now) ? poller.refreshViewThen(() => afterPause(() => afterView(now, before))) : afterView(now, before)
    })

    const afterView = (now: number, before: number): Effect.Effect<void> => {
      for (const r of st.resources.values()) if (!r.recovered) return Effect.zipRight(recover, Effect.suspend(() => decideAndAct(now, before)))
      return decideAndAct(now, before)
    }

    const decideAndAct = (now: number, before: number): Effect.Effect<void> => {
      const todo: Array<Effect.Effect<void>> = []
      const decisions: Array<Decision> = []
      const take = (d: EngineDecision, n: NodeRec | undefined) => {
        decisions.push(d)
        const act = actuator.actuate(d, n, now)
        if (act !== null) todo.push(act)
      }
      // (a node that is forgotten leaves the map while it is iterated: allowed for a Map)
      for (const n of st.nodes.values()) {
        if (n.instance.tasked) continue
        const d = nodeRule(st, n, now)
        if (d !== null) take(d, n)
      }
      const overMax: Array<NodeDecision> = []
      maxRule(st, overMax)
      for (const d of overMax) take(d, st.findByHost(d.host))
      // The min rule's boots are in flight before the policy looks (classic waits for them).
      const perResource: Array<ResourceDecision | JobDecision> = []
      minRule(st, now, perResource)
      for (const d of perResource) take(d, undefined)
      const pass = provisionDue(st, now)
      // Auto mode off: no pass, but why queued jobs get no node is still said.
      if (!pass && !explainDue(st, now)) return finishStep(now, before, todo, decisions)
      // The pass (the policy's proposal, then the queue's explanations; its
      // decisions taken after both), with a pause before each walk of the
      // queue and between the slices of each (the decision in slices only
      // with a pause: without one the policy's decide() makes it).
      // (the snapshot shows of the pass only the decision's proposal, `proposed_allocation`)
      const shown = st.lastDecision?.provision
      return afterPause(() => {
        if (pass) st.eligibleQueue()
        return afterPause(() => {
          const out: Array<ResourceDecision | JobDecision> = []
          const proposals = pass ? provisionProposalsSteps(st, now, out, pause !== undefined) : done<ReadonlySet<string>>(new Set<string>())
          return inSlices(proposals, (refused) =>
            afterPause(
              () =>
                inSlices(explainQueueSteps(st, now, refused, out), () => {
                  for (const d of out) take(d, undefined)
                  return finishStep(now, before, todo, decisions)
                }),
              sameCounts(shown, st.lastDecision?.provision)
            )
          )
        }, true)
      })
    }

    /** The end of a step: reconciliations due, the step's decisions reported, the decided service calls. */
    const finishStep = (now: number, before: number, todo: Array<Effect.Effect<void>>, decisions: ReadonlyArray<Decision>): Effect.Effect<void> => {
      // every N cloud polls, each resource's instances are listed and compared (reconcile.ts)
      for (const r of st.resources.values()) if (reconcileDue(st, r, now)) todo.push(reconcile(r))
      if (decisions.length > 0) {
        lastDecisions = { t: now, decisions }
        onDecisions?.(lastDecisions)
      }
      // Running the decided effects changes no engine state (submitting a task
      // or running a hook does not; their decisions already counted in `effects`).
      st.lastStepQuiet = st.effects === before
      st.lastStepAt = now
      return todo.length === 0 ? Effect.void : todo.length === 1 ? todo[0] : Effect.forEach(todo, (e) => e, { discard: true })
    }

    const api = makeApi({
      st,
      ctx,
      exclusive: lock.exclusive,
      version: lock.version,
      actuator,
      refreshView: poller.refreshView,
      snapshotAt: makeSnapshot(st, opts.shadow),
      dryRun: opts.shadow !== undefined,
      // an operator's action is reported like a step's decisions (not kept as lastDecisions, which is the last step's)
      decided: (d: OperatorDecision) => onDecisions?.({ t: st.currentNow, decisions: [d] })
    })

    return {
      step: lock.exclusive(stepUnlocked),
      nextWake: wake.nextWake,
      canSkip: wake.canSkip,
      skipStep: (now: number) => {
        lock.bump()
        wake.skipStep(now)
      },
      pollDue: wake.pollDue,
      api,
      get settings() {
        return st.settings
      },
      reconfigure: (next, addable) =>
        lock.exclusive(
          Effect.sync(() => {
            const r = reconfigureState(st, st.config, next, addable)
            st.settings = r.settings
            st.config = next
            for (const name of r.result.added) for (const c of [st.counters.boots, st.counters.boot_failures, st.counters.destroys]) c[name] ??= 0
            for (const line of r.result.changes) st.log("info", `reload: ${line}`)
            return r.result
          })
        ),
      policy,
      lastDecision: () => st.lastDecision,
      lastDecisions: () => lastDecisions
    }
  })
