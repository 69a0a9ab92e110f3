/**
 * `lean`, the default policy: demand's rules (demand.ts) with the ideas
 * measured to pay in the fourth to sixth rounds (docs/policies.md), written
 * out as a literal set of options:
 * - a job wider than the largest node counts whole Idle nodes and nodes
 *   coming, never free cores of Busy nodes (`stale: 0`, `staleWideOnly`,
 *   `staleIdle`);
 * - idle limits scaled per core (`pool.perCore`);
 * - the pool's keep learned from the idle periods seen (`pool.learn`, with
 *   the break-even learner from 300 s);
 * - decisions that start nothing do not spend `auto_provision_interval`
 *   (`reactive`);
 * - a decision that boots in a resource boots one node more (`hedge`);
 * - under billing by the hour, idle nodes go before an hour they would idle
 *   into, or stay to the end of the hour they are in (`paidIdle`);
 * - the trade-off knob in the boots (`knob`, issue #18): a proposed node in a
 *   priced resource starts only when wait_value × the waiting core-hours it
 *   saves pays its extra billed cost, with `dynamic-cluster.wait_value` or,
 *   unset, `defaultWaitValue` (docs/policies.md "Eighth round").
 *
 * It is what the experiment `demand+widenew+percore+learn+reactive+wideidle+hedgeone+paid+knob`
 * builds (src/experiments/demand-variants.ts); policies.test.ts checks that the two stay equal.
 */
import type { Policy } from "../policy.ts"
import { breakEvenDefaults, defaultWaitValue, makeDemandPolicy, type DemandOptions } from "./demand.ts"

export const leanOptions: DemandOptions = {
  count: { idle: true, busy: true, starting: true, soonFree: true },
  continuous: true,
  choice: { leastWaste: true, price: true },
  breakEven: { ...breakEvenDefaults, min: 300 },
  defaultBootTime: 300,
  pool: { weight: 4, short: 1, keep: 1200, tau: 3600, perCore: true, learn: 100 },
  stale: 0,
  staleWideOnly: true,
  staleIdle: true,
  reactive: true,
  hedge: { frac: 0.1, min: 1 },
  paidIdle: 120,
  knob: true,
  waitValue: defaultWaitValue
}

export const leanPolicy: Policy = makeDemandPolicy(
  leanOptions,
  "lean",
  "demand's rules, and: decides again after each poll until it starts nodes; boots one spare node with each decision that boots; a job wider than a node counts idle and coming nodes, never free cores of busy ones; idle limits per core; the pool's keep learned from the idle periods seen (break-even); under hourly billing idle nodes go before a new hour or stay to the end of a paid one; a node starts only when the wait it saves, at wait_value per core-hour, pays its extra billed cost"
)
