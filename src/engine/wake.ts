/**
 * When the engine next has something to do, and which steps can be skipped.
 * The simulator asks `nextWake` before every event it handles and `canSkip`
 * before every candidate step (docs/performance.md); both are built from the
 * rules' own time conditions (rules/starting.ts `launchDeadline`,
 * rules/error.ts `downDeadline`, rules/poll.ts `cloudPollAt`, rules/idle.ts
 * `idleRuleFires`, rules/provision.ts), so a rule and its fast path cannot
 * drift apart.
 */
import { NodeState } from "../model/types.ts"
import { reconcileDue } from "./reconcile.ts"
import { downDeadline, downTimedOut } from "./rules/error.ts"
import { idleRuleFires } from "./rules/idle.ts"
import { cloudPollAt, wantsCloudPoll } from "./rules/poll.ts"
import type { AllocResource } from "../model/allocator.ts"
import { intervalPassed, provisionAt, provisionDue } from "./rules/provision.ts"
import { allocResources } from "./rules/queue.ts"
import { launchDeadline, launchTimedOut } from "./rules/starting.ts"
import type { EngineState, NodeRec } from "./state.ts"

export type Wake = ReturnType<typeof makeWake>

/** Two lists of the resources a policy is offered say the same (allocResources builds new objects each time). */
const sameResources = (a: ReadonlyArray<AllocResource>, b: ReadonlyArray<AllocResource>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (
      x.name !== y.name ||
      x.priority !== y.priority ||
      x.min !== y.min ||
      x.max !== y.max ||
      x.current !== y.current ||
      x.coresPerNode !== y.coresPerNode ||
      x.reservation !== y.reservation ||
      x.flag !== y.flag
    )
      return false
  }
  return true
}

export const makeWake = (st: EngineState) => {
  const pollDue = (now: number): boolean => now - st.lastClusterPoll >= st.settings.clusterPollerInterval

  /** Whether a full step at `now` would run a provisioning pass (its poll, if due, applying the same view). */
  const decidesAt = (now: number): boolean => provisionDue(st, now) || (st.reactive && pollDue(now) && intervalPassed(st, now))

  /**
   * A pass at `now` would get the input of the last pass but for the clock
   * (no change of the engine's state, no new view, the same resources
   * offered), and the policy says it would decide the same and learn
   * nothing (Policy.quietAt).
   */
  const policyQuiet = (now: number): boolean => {
    const q = st.lastPass
    const quietAt = st.policy.quietAt
    return quietAt !== undefined && q !== null && q.effects === st.effects && q.views === st.views && sameResources(q.resources, allocResources(st, now)) && quietAt(now)
  }

  /**
   * For canSkip, kept until something changes (`effects` moves with every
   * change of the node set, a state, an instance or a task): the earliest time
   * a node's time-based rule other than the idle limit can fire (the
   * rules compare differences, this a sum: canSkip keeps a second of margin
   * and otherwise runs the full pass), and the untasked Idle nodes in order.
   */
  const skipKey = { effects: -1, auto: false, due: -Infinity, idle: [] as Array<NodeRec> }
  const skipOf = () => {
    const k = skipKey
    if (k.effects !== st.effects || k.auto !== st.autoMode) {
      let due = Infinity
      const idle: Array<NodeRec> = []
      for (const n of st.nodes.values()) {
        if (n.instance.tasked) continue
        if (wantsCloudPoll(n)) due = Math.min(due, cloudPollAt(st, n))
        if (n.state === NodeState.Starting) due = Math.min(due, launchDeadline(st, n))
        else if (n.state === NodeState.Idle && st.autoMode) idle.push(n)
        else if (n.state === NodeState.Error) due = Math.min(due, downDeadline(st, n))
      }
      k.effects = st.effects
      k.auto = st.autoMode
      k.due = due
      k.idle = idle
    }
    return k
  }

  /**
   * True when a step at `now` would change nothing, provided the world looks
   * exactly as at the last step: that step was quiet and no time-based rule
   * (launch, idle, down time, instance refresh, backoff end) can fire before `now`.
   * Only a caller that knows the world did not change (the simulator) may use it.
   */
  const canSkip = (now: number): boolean => {
    if (!st.lastStepQuiet || st.tasks.stats().results_pending > 0) return false
    // a suspect view is counting its confirmations (view-guard.ts): every poll counts
    if (st.viewGuard.suspectPolls() > 0) return false
    // A provisioning pass on the view it already saw decides the same for a
    // policy without memory (classic); a policy with memory must see every
    // pass the full step would run (a reactive one: also after each poll),
    // unless it says it is quiet (asked last: it may place the queue again).
    const pass = st.stateful ? decidesAt(now) : st.viewSinceProvision && provisionDue(st, now)
    if (pass && !st.stateful) return false
    for (const r of st.resources.values()) {
      if (!r.recovered || reconcileDue(st, r, now)) return false
      if (r.backoffUntil > st.lastStepAt && r.backoffUntil <= now) return false
    }
    // Before the earliest time any node's refresh, check, launch or down-time
    // rule can come due, only the Idle nodes' rule needs a look (each in the
    // order of the full pass: a policy's idleLimit may keep memory per call).
    const k = skipOf()
    if (now < k.due - 1) {
      for (const n of k.idle) if (idleRuleFires(st, n, now)) return false
    } else
      for (const n of st.nodes.values()) {
        if (n.instance.tasked) continue
        if (wantsCloudPoll(n) && st.due(n.instance, now)) return false
        if (n.state === NodeState.Starting && launchTimedOut(st, n, now)) return false
        if (n.state === NodeState.Idle && idleRuleFires(st, n, now)) return false
        if (n.state === NodeState.Error && downTimedOut(st, n, now)) return false
      }
    return !pass || policyQuiet(now)
  }

  /** The bookkeeping of a step that `canSkip` said would change nothing. */
  const skipStep = (now: number): void => {
    st.currentNow = now
    st.counters.cycles++
    if (pollDue(now)) {
      st.lastClusterPoll = now
      // (the poll would apply the same view again: a reactive policy's next pass is due on it)
      if (st.reactive && st.viewFresh) st.viewSinceProvision = true
    }
    // The pass the full step would run, deciding what it decided last time: its bookkeeping (provision.ts, queue.ts).
    if (provisionDue(st, now)) {
      if (!st.reactive) st.lastProvision = now
      st.viewSinceProvision = false
      st.lastExplain = now
    }
    st.lastStepAt = now
  }

  // nextWake() is asked before every event the simulator handles: kept until
  // something it depends on changes (the node set, states and instances all bump `effects`).
  const wakeOf = { effects: -1, poll: 0, provision: 0, auto: false, fresh: false, seen: false, t: 0 }
  const computeWake = () => {
    let t = Math.min(st.lastClusterPoll + st.settings.clusterPollerInterval, provisionAt(st))
    for (const n of st.nodes.values()) {
      if (n.instance.tasked || !wantsCloudPoll(n)) continue
      // Instance refreshes and checks come due on the cloud poller interval.
      t = Math.min(t, cloudPollAt(st, n))
    }
    return t
  }
  /** When (seconds since the epoch) the engine next has something due, without outside events. */
  const nextWake = () => {
    const k = wakeOf
    if (
      k.effects !== st.effects ||
      k.poll !== st.lastClusterPoll ||
      k.provision !== st.lastProvision ||
      k.auto !== st.autoMode ||
      k.fresh !== st.viewFresh ||
      k.seen !== st.viewSinceProvision
    ) {
      k.t = computeWake()
      k.effects = st.effects
      k.poll = st.lastClusterPoll
      k.provision = st.lastProvision
      k.auto = st.autoMode
      k.fresh = st.viewFresh
      k.seen = st.viewSinceProvision
    }
    return k.t
  }

  return { canSkip, skipStep, nextWake, pollDue }
}
