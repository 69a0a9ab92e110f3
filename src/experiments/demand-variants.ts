/**
 * EXPERIMENTS, not production code: the variant grammar of the demand policy
 * and its catalogue of ideas (hedge, fitfast, breakeven, pool, ...), moved
 * out of src/engine/policies so that the daemon cannot run them. `simulate`,
 * `soak`, `plan` (their --policy), `run --sim`, the benchmarks and the tests
 * reach them through ./policies.ts; the daemon's configuration names only a
 * supported policy (src/engine/policy.ts).
 *
 * A variant is `demand` followed by ideas switched off (`-no-KEY`) or on
 * (`+KEY`), applied in order to the demand defaults: `demand-no-pool`,
 * `demand+fitfast+percore`. docs/policies.md, "Variants", has what each
 * measured.
 */
import type { Policy } from "../engine/policy.ts"
import { breakEvenDefaults, defaultWaitValue, demandDefaults, makeDemandPolicy, type DemandOptions } from "../engine/policies/demand.ts"
import type { BreakEvenOptions } from "../engine/policies/breakeven.ts"

/** The learner behind the pool's learned keep (`+learn`; lean.ts has the same): limits from 300 s. */
const learnBreakEven: BreakEvenOptions = { ...breakEvenDefaults, min: 300 }

/**
 * The catalogue: the ideas a variant can switch off (`-no-KEY`) or on
 * (`+KEY`), for the ablation in docs/policies.md. Each maps the defaults to
 * other options.
 */
const ideas: Record<string, { readonly off?: (o: DemandOptions) => DemandOptions; readonly on?: (o: DemandOptions) => DemandOptions; readonly what: string }> = {
  idle: { off: (o) => ({ ...o, count: { ...o.count, idle: false } }), what: "free cores of Idle nodes count as capacity" },
  busy: { off: (o) => ({ ...o, count: { ...o.count, busy: false } }), what: "free cores of Busy nodes count as capacity" },
  starting: { off: (o) => ({ ...o, count: { ...o.count, starting: false } }), what: "nodes Starting and boots in flight count as capacity" },
  soonfree: { off: (o) => ({ ...o, count: { ...o.count, soonFree: false } }), what: "cores freed by running jobs (start + walltime) before a boot could join count" },
  count: { off: (o) => ({ ...o, count: { idle: false, busy: false, starting: false, soonFree: false } }), what: "all of idle, busy, starting, soonfree" },
  continuous: { off: (o) => ({ ...o, continuous: false }), what: "provision at every decision, not one wave at a time" },
  leastwaste: { off: (o) => ({ ...o, choice: { ...o.choice, leastWaste: false } }), what: "cheapest, least-waste resource instead of classic's priority order" },
  price: { off: (o) => ({ ...o, choice: { ...o.choice, price: false } }), what: "prices (when configured) as the cost of a node in the choice" },
  pool: { off: (o) => ({ ...o, pool: null }), what: "pool retirement (idle nodes beyond the expected demand go after one boot time)" },
  breakeven: { on: (o) => ({ ...o, pool: null, breakEven: breakEvenDefaults }), what: "learned break-even idle limit instead of the pool rule" },
  patient: { on: (o) => ({ ...o, pool: null, breakEven: { ...breakEvenDefaults, weight: 4, min: 120 } }), what: "break-even limit with a boot valued twice as dear (weight 4) and never below 2 minutes" },
  fitfast: { on: (o) => ({ ...o, choice: { ...o.choice, fitFast: true } }), what: "least waste first, then the resource whose nodes join soonest, then price" },
  percore: { on: (o) => ({ ...o, pool: o.pool ? { ...o.pool, perCore: true } : o.pool }), what: "idle limits scaled by smallest node size ÷ node size (an idle core costs the same everywhere)" },
  mid: { on: (o) => ({ ...o, pool: o.pool ? { ...o.pool, keep: 900 } : o.pool }), what: "pool keeps its nodes up to 900 s" },
  fastest: { on: (o) => ({ ...o, choice: { ...o.choice, fastest: true } }), what: "prefer the resource whose nodes join soonest" },
  spare: { on: (o) => ({ ...o, spare: { weight: 1 } }), what: "keep nodes booted ahead of the expected demand" },
  shared: { on: (o) => ({ ...o, pool: o.pool ? { ...o.pool, shared: true } : o.pool }), what: "one pool for all resources, keeping the idle nodes cheapest per core" },
  lifo: { on: (o) => ({ ...o, pool: o.pool ? { ...o.pool, order: "created" } : o.pool }), what: "pool keeps the longest-lived idle nodes (last booted, first retired)" },
  bexcess: { on: (o) => ({ ...o, breakEven: breakEvenDefaults, pool: o.pool ? { ...o.pool, excess: "breakeven" } : o.pool }), what: "pool's excess idle nodes go at the learned break-even limit" },
  widenew: { on: (o) => ({ ...o, stale: 0, staleWideOnly: true }), what: "a job wider than the largest node counts only nodes starting or in flight, never free cores smaller jobs take first" },
  learn: { on: (o) => ({ ...o, breakEven: learnBreakEven, pool: o.pool ? { ...o.pool, learn: 100 } : o.pool }), what: "pool keeps its nodes up to a learned break-even limit (K = 100 × boot time, 300 s up to the keep)" },
  learn3: { on: (o) => ({ ...o, breakEven: learnBreakEven, pool: o.pool ? { ...o.pool, learn: 3 } : o.pool }), what: "as learn, K = 3 × boot time" },
  capped: { on: (o) => ({ ...o, pool: o.pool ? { ...o.pool, keep: null } : o.pool }), what: "pool keeps its nodes no longer than max_idle_time" },
  wide: { on: (o) => ({ ...o, pool: o.pool ? { ...o.pool, weight: o.pool.weight * 2 } : o.pool }), what: "pool keeps twice as many idle nodes" },
  slow: { on: (o) => ({ ...o, pool: o.pool ? { ...o.pool, short: o.pool.short * 2 } : o.pool }), what: "pool's other idle nodes go after two boot times" },
  stale: { on: (o) => ({ ...o, stale: 1 }), what: "a job queued longer than a boot time counts only nodes starting or in flight" },
  eager: { on: (o) => ({ ...o, stale: 0.5 }), what: "as stale, after half a boot time" },
  wideidle: { on: (o) => ({ ...o, staleIdle: true }), what: "stale and wide jobs also count Idle nodes and (with expect) the cores running jobs are expected to free" },
  widestale: { on: (o) => ({ ...o, stale: 0.5, staleWideOnly: true }), what: "as eager, for jobs wider than the largest node only" },
  urgent: { on: (o) => ({ ...o, urgentFastest: true }), what: "stale jobs (see stale) boot in the resource whose nodes join soonest" },
  runtime: { on: (o) => ({ ...o, count: { ...o.count, runtimeQ: 0.5 } }), what: "running jobs free their cores at the median end judged by observed runtimes (conditional on age), or their walltime if sooner" },
  runtime75: { on: (o) => ({ ...o, count: { ...o.count, runtimeQ: 0.75 } }), what: "as runtime, with the 75th percentile" },
  reactive: { on: (o) => ({ ...o, reactive: true }), what: "a decision that starts no node leaves auto_provision_interval unspent: the queue is looked at again at the next cluster view" },
  expect: { on: (o) => ({ ...o, count: { ...o.count, expect: 1 } }), what: "running jobs' cores count as freed in proportion to the chance (from the runtimes observed) that they end before a new node could join" },
  expecthalf: { on: (o) => ({ ...o, count: { ...o.count, expect: 0.5 } }), what: "as expect, half of it" },
  hedge: { on: (o) => ({ ...o, hedge: { frac: 0.1, min: 4 } }), what: "boot 10 % extra when a decision starts 4 or more nodes (failed boots)" },
  hedgetwo: { on: (o) => ({ ...o, hedge: { frac: 0.1, min: 2 } }), what: "as hedge, from 2 nodes on" },
  hedgemore: { on: (o) => ({ ...o, hedge: { frac: 0.2, min: 4 } }), what: "as hedge, 20 % more" },
  hedgeeight: { on: (o) => ({ ...o, hedge: { frac: 0.1, min: 8 } }), what: "as hedge, from 8 nodes on" },
  hedgeone: { on: (o) => ({ ...o, hedge: { frac: 0.1, min: 1 } }), what: "every decision that boots in a resource boots one node more (ceil of 10 %: two from 11 nodes on): a spare against failed and slow boots, and a head start for the next job" },
  hedgethree: { on: (o) => ({ ...o, hedge: { frac: 0.1, min: 3 } }), what: "as hedge, from 3 nodes on" },
  hedgeonemore: { on: (o) => ({ ...o, hedge: { frac: 0.2, min: 1 } }), what: "as hedgeone with 20 % (two from 6 nodes on)" },
  money: { on: (o) => ({ ...o, pool: o.pool ? { ...o.pool, money: true } : o.pool }), what: "with learn and wait_value: the break-even K in money (billed boot + a boot time of waiting on the node's cores at wait_value, in idle seconds of the node's price)" },
  knob: { on: (o) => ({ ...o, knob: true, waitValue: defaultWaitValue }), what: "with wait_value (unset: lean's default, 0.2): a proposed node in a priced resource starts only when wait_value × the waiting core-hours it saves (each job's expected wait for the cores running jobs free, beyond a boot time) pays its billed cost beyond what the work costs on the cheapest resource" },
  tail: { on: (o) => ({ ...o, knobTail: "short" }), what: "with knob: a boot's price includes the idle tail of a node beyond the pool's kept count (one boot time, per core)" },
  tailkeep: { on: (o) => ({ ...o, knobTail: "keep" }), what: "with knob: a boot's price includes the idle tail of a kept node (the learned keep, per core)" },
  knobwide: { on: (o) => ({ ...o, knobWide: true }), what: "with knob: a job wider than the largest node is weighed by its expected wait for the cores running jobs free, not always started" },
  knobqueue: { on: (o) => ({ ...o, knobQueue: true }), what: "with knob: the freed cores a job may wait for also count those promised to queued jobs, freed at their ready time + the median observed runtime" },
  knobsoon: { on: (o) => ({ ...o, knobSoon: true }), what: "with knobwide: a wide job whose expected wait is within a boot time saves nothing by a boot, instead of always starting it" },
  paid: { on: (o) => ({ ...o, paidIdle: 120 }), what: "billing-aware retirement: an idle node whose billed time (cloud.R.billing) runs on past its idle limit stays until 120 s before it ends; one whose billed hour ends within 120 s of its limit goes 120 s before the hour ends" }
}

/** `KEY: what it does` for every idea a variant name may name. */
export const demandIdeas = (): ReadonlyArray<string> => Object.entries(ideas).map(([k, v]) => `${v.off ? "-no-" : "+"}${k}: ${v.what}`)

/**
 * A variant of the demand policy named like `demand-no-soonfree-no-pool` or
 * `demand+breakeven`: the defaults with the named ideas switched off
 * (`-no-KEY`) or on (`+KEY`). undefined when the name is not of that form
 * or names an unknown idea. Variants are for measurements (`simulate
 * --policy`); they are not supported policies (src/engine/policy.ts).
 */
export const demandVariant = (name: string): Policy | undefined => {
  if (!name.startsWith("demand") || name === "demand") return undefined
  const o = variantOptions(name.slice("demand".length))
  return o === undefined ? undefined : makeDemandPolicy(o, name)
}

/** The demand defaults with the ideas of `rest` (`-no-KEY`, `+KEY`, in order) applied; undefined for an unknown idea. */
export const variantOptions = (rest: string): DemandOptions | undefined => {
  let o = demandDefaults
  while (rest.length > 0) {
    const m = /^(-no-|\+)([a-z][a-z0-9]*)/.exec(rest)
    if (m === null) return undefined
    const idea = ideas[m[2]]
    const f = m[1] === "+" ? idea?.on : idea?.off
    if (f === undefined) return undefined
    o = f(o)
    rest = rest.slice(m[0].length)
  }
  return o
}
