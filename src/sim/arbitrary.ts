/**
 * Random worlds for property tests and the soak (docs/testing.md): random
 * scaler configurations, workloads, fault schedules and operator actions.
 *
 * The parts that have a Schema are generated from it with effect's
 * `Arbitrary.make`: boot and configuration times are drawn from bounded
 * sub-schemas of the scenario files' `Distribution` (every value they make is
 * a valid `Distribution`, a test checks it), and operator actions from the
 * same `OperatorAction` schema that decodes them from regression files. The
 * rest is fast-check combinators over the kit input (src/sim/kit.ts), which is
 * plain JSON, so a counterexample can be written out as a scenario file.
 */
import { Arbitrary, type FastCheck, Schema } from "effect"
import * as fc from "fast-check"
import type { KitResource, KitScenario } from "./kit.ts"
import { makeRng, type Distribution } from "./random.ts"
import type { WorkloadJob } from "./workload.ts"
import type { FaultSpec, SimPhysicalNode } from "./world.ts"

/**
 * `Arbitrary.make` of a schema, built with this project's fast-check (4)
 * rather than the copy effect bundles (3): effect's lazy arbitraries take the
 * fast-check module to build with, so they compose with fc.record & co.
 */
export const fromSchema = <A, I, R>(schema: Schema.Schema<A, I, R>): fc.Arbitrary<A> =>
  Arbitrary.makeLazy(schema)(fc as unknown as typeof FastCheck) as unknown as fc.Arbitrary<A>

// ---------------------------------------------------------------- distributions

const int = (lo: number, hi: number) => Schema.Int.pipe(Schema.between(lo, hi))
/** Few distinct spreads keep the YAML of a counterexample readable. */
const sigma = Schema.Literal(0, 0.1, 0.3, 0.5, 0.8, 1.2)

/**
 * Seconds from a boot request until the VM is Active: the scenario files'
 * Distribution with bounds that keep runs short (the lognormal and
 * exponential tails still reach past any max_launch_time now and then).
 */
export const BootTimeDistribution = Schema.Union(
  Schema.Struct({ type: Schema.Literal("constant"), value: int(5, 400) }),
  Schema.Struct({ type: Schema.Literal("uniform"), min: int(5, 150), max: int(150, 500) }),
  Schema.Struct({ type: Schema.Literal("exponential"), mean: int(10, 200) }),
  Schema.Struct({ type: Schema.Literal("lognormal"), median: int(10, 300), sigma }),
  Schema.Struct({ type: Schema.Literal("normal"), mean: int(20, 300), sd: int(0, 100), min: int(1, 20) }),
  Schema.Struct({ type: Schema.Literal("choice"), values: Schema.NonEmptyArray(int(5, 400)).pipe(Schema.maxItems(3)) })
)

/** Seconds from Active until the configuration checker says Ready. */
export const ConfigTimeDistribution = Schema.Union(
  Schema.Struct({ type: Schema.Literal("constant"), value: int(0, 120) }),
  Schema.Struct({ type: Schema.Literal("uniform"), min: int(0, 30), max: int(30, 150) }),
  Schema.Struct({ type: Schema.Literal("exponential"), mean: int(5, 60) }),
  Schema.Struct({ type: Schema.Literal("lognormal"), median: int(5, 60), sigma })
)

export const arbBootTime: fc.Arbitrary<Distribution> = fromSchema(BootTimeDistribution)
export const arbConfigTime: fc.Arbitrary<Distribution> = fromSchema(ConfigTimeDistribution)

// ---------------------------------------------------------------- operator actions

const at = Schema.Number.pipe(Schema.finite(), Schema.nonNegative()).annotations({
  message: () => "expected a non-negative number (seconds)"
})

/**
 * An operator action at a virtual time, applied through engine.api. Node
 * actions name their target when they run (host names are only known then):
 * the `index`-th cloud node the engine lists (by host name, modulo their
 * count), the `index`-th physical node, or a host that does not exist.
 */
export const OperatorAction = Schema.Union(
  Schema.Struct({
    at,
    op: Schema.Literal("hold", "unhold", "vacate", "delete"),
    node: Schema.Literal("cloud", "physical", "unknown"),
    index: int(0, 31)
  }),
  /** `num` may be invalid on purpose (negative, fractional): the engine must answer 400. */
  Schema.Struct({ at, op: Schema.Literal("launch"), resource: Schema.String, num: Schema.Number.pipe(Schema.finite()) }),
  Schema.Struct({ at, op: Schema.Literal("freeze", "restore", "drain"), resource: Schema.String }),
  Schema.Struct({ at, op: Schema.Literal("auto"), on: Schema.Boolean })
)
export type OperatorAction = typeof OperatorAction.Type

/** Node actions from the schema itself (their targets do not depend on the world). */
const NodeAction = OperatorAction.members[0]
const arbNodeActionShape = fromSchema(NodeAction.pipe(Schema.omit("at")))

// ---------------------------------------------------------------- the world

/** A random world: the kit scenario (plain JSON) and the operator actions applied to it. */
export interface RandomWorld {
  readonly kit: KitScenario
  readonly actions: ReadonlyArray<OperatorAction>
}

export interface WorldOptions {
  /** Most cloud resources (1..5). */
  readonly maxResources?: number
  readonly maxJobs?: number
  /** Seconds over which jobs arrive and faults and actions happen: [min, max]. */
  readonly horizon?: readonly [number, number]
  readonly maxFaults?: number
  readonly maxActions?: number
}

const QUEUES = ["default", "short", "long"] as const
const ACCOUNTS = ["acme", "lab"] as const
const PROPERTIES = ["gpu", "bigmem"] as const

const maybe = <A>(arb: fc.Arbitrary<A>, nullFreq = 3): fc.Arbitrary<A | null> =>
  fc.oneof({ weight: nullFreq, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb })

const arbSettings = fc.record({
  auto_mode: fc.oneof({ weight: 19, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  cluster_poller_interval: fc.integer({ min: 10, max: 60 }),
  cloud_poller_interval: fc.integer({ min: 10, max: 60 }),
  auto_provision_interval: fc.integer({ min: 10, max: 180 }),
  max_launch_time: fc.integer({ min: 180, max: 1200 }),
  max_idle_time: fc.integer({ min: 30, max: 900 }),
  max_down_time: fc.integer({ min: 60, max: 600 }),
  worker_thread_number: fc.integer({ min: 1, max: 4 })
})

const arbResource = (name: string): fc.Arbitrary<KitResource> =>
  fc
    .record({
      range: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 6 })),
      priority: fc.integer({ min: 1, max: 3 }),
      cores: fc.constantFrom(1, 2, 4, 8, 16),
      queue: maybe(fc.constantFrom(...QUEUES), 8),
      account: maybe(fc.constantFrom(...ACCOUNTS), 8),
      property: maybe(fc.constantFrom(...PROPERTIES), 6),
      bootTime: arbBootTime,
      configTime: arbConfigTime,
      bootFailureRate: fc.constantFrom(0, 0, 0, 0.05, 0.2),
      apiErrorRate: fc.constantFrom(0, 0, 0, 0, 0, 0.02, 0.1),
      quota: maybe(fc.integer({ min: 1, max: 8 }), 4),
      destroyTime: fc.integer({ min: 1, max: 60 })
    })
    .map((r) => ({
      name,
      min: r.range[0],
      max: r.range[0] + r.range[1],
      priority: r.priority,
      cores: r.cores,
      reservation: { queue: r.queue, account: r.account, property: r.property },
      bootTime: r.bootTime,
      configTime: r.configTime,
      bootFailureRate: r.bootFailureRate,
      apiErrorRate: r.apiErrorRate,
      quota: r.quota,
      destroyTime: r.destroyTime
    }))

const arbPhysical = fc
  .array(fc.record({ cores: fc.constantFrom(1, 2, 4, 8), property: maybe(fc.constantFrom(...PROPERTIES), 3) }), { maxLength: 3 })
  .map((ps): Array<SimPhysicalNode> =>
    ps.map((p, i) => ({ hostname: `p${i + 1}`, cores: p.cores, properties: p.property === null ? [] : [p.property] }))
  )

type KitJob = Omit<WorkloadJob, "id"> & { readonly id: string }

const arbJobShape = fc.record({
  gap: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 300 }) }, { weight: 1, arbitrary: fc.constant(0) }),
  cores: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 24 }) }),
  /** 0 = spread anywhere; otherwise a fraction of cores per node (cut to cores). */
  cpn: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 16 })),
  runtime: fc.integer({ min: 10, max: 2400 }),
  /** Walltime = runtime + this, or none. */
  extraWall: maybe(fc.integer({ min: 0, max: 1800 }), 2),
  queue: fc.constantFrom(...QUEUES),
  account: maybe(fc.constantFrom(...ACCOUNTS), 2),
  property: maybe(fc.constantFrom(...PROPERTIES), 9),
  priority: fc.integer({ min: 0, max: 5 })
})

/** Jobs in submit order with ids j1, j2, ... in that order (so every loader sorts them the same way). */
const arbJobs = (maxJobs: number, horizon: number): fc.Arbitrary<Array<KitJob>> =>
  fc.array(arbJobShape, { maxLength: maxJobs, size: "medium" }).map((shapes) => {
    let t = 0
    const out: Array<KitJob> = []
    for (const s of shapes) {
      t = Math.min(horizon, t + s.gap)
      out.push({
        id: `j${out.length + 1}`,
        submit: t,
        cores: s.cores,
        cpn: Math.min(s.cpn, s.cores),
        runtime: s.runtime,
        walltime: s.extraWall === null ? null : s.runtime + s.extraWall,
        queue: s.queue,
        account: s.account,
        property: s.property,
        priority: s.priority
      })
    }
    return out
  })

/** Times that fall between engine steps now and then (restarts at x.5 s). */
const arbAt = (horizon: number) =>
  fc.tuple(fc.integer({ min: 0, max: horizon }), fc.constantFrom(0, 0, 0, 0.25, 0.5)).map(([s, f]) => s + f)

const arbFault = (names: ReadonlyArray<string>, horizon: number): fc.Arbitrary<FaultSpec> => {
  const res = fc.constantFrom(...names)
  const dur = fc.integer({ min: 10, max: 1800 })
  return fc.oneof(
    fc.record({ kind: fc.constant("outage" as const), resource: res, at: arbAt(horizon), duration: dur }),
    fc.record({ kind: fc.constant("slow_boots" as const), resource: res, at: arbAt(horizon), duration: dur, factor: fc.constantFrom(2, 4, 10) }),
    fc
      .record({ at: arbAt(horizon), resource: maybe(res, 1), count: fc.integer({ min: 1, max: 3 }) })
      .map((f): FaultSpec => ({ kind: "instance_death", at: f.at, count: f.count, ...(f.resource !== null ? { resource: f.resource } : {}) })),
    fc.record({
      kind: fc.constant("batch_failure" as const),
      at: arbAt(horizon),
      duration: fc.integer({ min: 10, max: 900 }),
      mode: fc.constantFrom("fail" as const, "garbage" as const)
    }),
    fc.record({ kind: fc.constant("restart" as const), at: arbAt(horizon) })
  )
}

const arbAction = (names: ReadonlyArray<string>, horizon: number): fc.Arbitrary<OperatorAction> => {
  // Mostly real resources; now and then one that does not exist (404).
  const res = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: fc.constant("nope") })
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(arbAt(horizon), arbNodeActionShape).map(([t, a]): OperatorAction => ({ at: t, ...a })) },
    {
      weight: 2,
      arbitrary: fc
        .record({
          at: arbAt(horizon),
          resource: res,
          num: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5) })
        })
        .map((a): OperatorAction => ({ op: "launch", ...a }))
    },
    {
      weight: 3,
      arbitrary: fc
        .record({ at: arbAt(horizon), op: fc.constantFrom("freeze" as const, "restore" as const, "drain" as const), resource: res })
        .map((a): OperatorAction => a)
    },
    // Mostly "on": an "off" lasts until the next "on" (or a restart) and the liveness checks judge nothing meanwhile.
    {
      weight: 1,
      arbitrary: fc
        .record({ at: arbAt(horizon), on: fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) })
        .map((a): OperatorAction => ({ op: "auto", ...a }))
    }
  )
}

const byTime = <A extends { readonly at: number }>(xs: ReadonlyArray<A>): Array<A> => [...xs].sort((a, b) => a.at - b.at)

/**
 * Spot resources and their interruptions in about a third of the worlds:
 * drawn from the world's own seed (a separate stream), so the rest of the
 * world is what fast-check sampled without them. A spot world gets one or
 * two spot resources and one to three `spot_interruption` faults (warning
 * 30–180 s, killed jobs resubmitted or not).
 */
const withSpot = <W extends { readonly seed: number; readonly horizon: number; readonly resources: ReadonlyArray<KitResource>; readonly faults: ReadonlyArray<FaultSpec> }>(w: W): W => {
  const rng = makeRng(w.seed).fork("spot")
  if (!rng.bool(1 / 3)) return w
  const spot = new Set(w.resources.filter(() => rng.bool(0.5)).map((r) => r.name))
  if (spot.size === 0) spot.add(w.resources[rng.int(0, w.resources.length - 1)].name)
  const names = [...spot]
  const faults: Array<FaultSpec> = []
  for (let k = rng.int(1, 3); k > 0; k--) {
    const one = rng.bool(0.7)
    faults.push({
      kind: "spot_interruption",
      at: rng.int(0, w.horizon),
      ...(one ? { resource: names[rng.int(0, names.length - 1)] } : {}),
      count: rng.int(1, 3),
      warning: rng.int(30, 180),
      code: rng.bool(0.5) ? "instance-terminated-by-price" : "instance-terminated-no-capacity",
      resubmit: rng.bool(0.5)
    })
  }
  return { ...w, resources: w.resources.map((r) => (spot.has(r.name) ? { ...r, spot: true } : r)), faults: [...w.faults, ...faults] }
}

/**
 * A random world: 1..maxResources resources, physical nodes, a workload,
 * faults and operator actions within the horizon, and a hard end late enough
 * that every fault is over long before it (so leaks can be judged).
 */
export const arbWorld = (options: WorldOptions = {}): fc.Arbitrary<RandomWorld> => {
  const maxResources = Math.max(1, Math.min(5, options.maxResources ?? 5))
  const [h0, h1] = options.horizon ?? [600, 3600]
  return fc
    .record({ n: fc.integer({ min: 1, max: maxResources }), horizon: fc.integer({ min: h0, max: h1 }) })
    .chain(({ n, horizon }) => {
      const names = Array.from({ length: n }, (_, i) => `r${i + 1}`)
      return fc.record({
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        settings: arbSettings,
        resources: fc.tuple(...names.map(arbResource)),
        physical: arbPhysical,
        jobs: arbJobs(options.maxJobs ?? 30, horizon),
        // Faults now and then start while another is on (a restart during an outage or a batch-system failure).
        faults: fc.array(fc.tuple(arbFault(names, horizon), maybe(fc.record({ fault: fc.nat(), after: fc.integer({ min: 0, max: 60 }) }), 3)), {
          maxLength: options.maxFaults ?? 5
        }),
        // Some actions come right after a fault (a restart, an outage): where the engine is most fragile.
        actions: fc.array(fc.tuple(arbAction(names, horizon), maybe(fc.record({ fault: fc.nat(), after: fc.integer({ min: 0, max: 90 }) }), 2)), {
          maxLength: options.maxActions ?? 6
        }),
        schedulerCycle: fc.integer({ min: 5, max: 30 }),
        drain: fc.integer({ min: 300, max: 1800 }),
        apiLatency: fc.constantFrom(0.5, 1, 2, 3),
        horizon: fc.constant(horizon)
      })
    })
    .map((w0) => {
      const faults = w0.faults.map(([f, anchor], i): FaultSpec => {
        if (anchor === null || w0.faults.length < 2) return f
        const other = w0.faults[(i + 1 + (anchor.fault % (w0.faults.length - 1))) % w0.faults.length][0]
        return { ...f, at: other.at + anchor.after }
      })
      return { ...w0, faults }
    })
    .map(withSpot)
    .map((w): RandomWorld => ({
      kit: {
        name: `random-${w.seed}`,
        seed: w.seed,
        resources: w.resources,
        physical: w.physical,
        jobs: w.jobs,
        faults: byTime(w.faults),
        settings: w.settings,
        schedulerCycle: w.schedulerCycle,
        drain: w.drain,
        // Every fault has ended by horizon + 1800 s; leave room to recover and drain after it.
        maxTime: w.horizon + 1800 + w.drain + 1800,
        apiLatency: w.apiLatency
      },
      actions: byTime(
        w.actions.map(([a, anchor]) =>
          anchor === null || w.faults.length === 0 ? a : { ...a, at: w.faults[anchor.fault % w.faults.length].at + anchor.after }
        )
      )
    }))
}

/** The world a soak run or a property run number `seed` gets (fast-check's first value for that seed). */
export const sampleWorld = (seed: number, options: WorldOptions = {}): RandomWorld =>
  fc.sample(arbWorld(options), { seed, numRuns: 1 })[0]
