import { describe, it, expect } from "vitest"
import fc from "fast-check"
import {
  classicAllocate,
  eligibleJobs,
  eligibleQueue,
  orderCandidates,
  tryFit,
  type AllocResource,
  type ProposedNode
} from "./allocator.ts"
import { JobState, ResourceFlag, makeJob, type Job } from "./types.ts"

const res = (
  name: string,
  o: Partial<Omit<AllocResource, "reservation">> & { reservation?: Partial<AllocResource["reservation"]> } = {}
): AllocResource => ({
  name,
  priority: 1,
  min: 0,
  max: 10,
  current: 0,
  coresPerNode: 4,
  flag: ResourceFlag.Normal,
  ...o,
  reservation: { queue: null, account: null, property: null, ...o.reservation }
})

/** resource name -> number of nodes to start */
const counts = (jobs: ReadonlyArray<Job>, resources: ReadonlyArray<AllocResource>) =>
  Object.fromEntries(classicAllocate(jobs, resources).map((p) => [p.resource, p.nodes.length]))

const shape = (jobs: ReadonlyArray<Job>, resources: ReadonlyArray<AllocResource>) =>
  Object.fromEntries(
    classicAllocate(jobs, resources).map((p) => [p.resource, p.nodes.map((n) => ({ cores: n.cores, jobs: n.jobs }))])
  )

describe("classicAllocate: basics", () => {
  it("returns nothing for no jobs", () => {
    expect(classicAllocate([], [res("a")])).toEqual([])
  })

  it("returns nothing for no resources", () => {
    expect(classicAllocate([makeJob({ jobid: "1" })], [])).toEqual([])
  })

  it("proposes one node for a one-core job and records the job on it", () => {
    expect(shape([makeJob({ jobid: "1" })], [res("a")])).toEqual({ a: [{ cores: 1, jobs: ["1"] }] })
  })

  it("omits resources with an empty proposal and keeps input order of resources", () => {
    const jobs = [
      makeJob({ jobid: "1", queue: "q2" }),
      makeJob({ jobid: "2", queue: "q1" })
    ]
    const rs = [res("r1", { reservation: { queue: "q1" } }), res("idle", { reservation: { queue: "zzz" } }), res("r2", { reservation: { queue: "q2" } })]
    expect(classicAllocate(jobs, rs).map((p) => p.resource)).toEqual(["r1", "r2"])
  })

  it("does not mutate its inputs and gives the same answer twice", () => {
    const jobs = [makeJob({ jobid: "1", requested_cores: 6, cores_per_node: 0 })]
    const rs = [res("a", { max: 3 })]
    const jobsCopy = structuredClone(jobs)
    const rsCopy = structuredClone(rs)
    const first = shape(jobs, rs)
    expect(shape(jobs, rs)).toEqual(first)
    expect(jobs).toEqual(jobsCopy)
    expect(rs).toEqual(rsCopy)
  })
})

describe("rule 1: eligible jobs", () => {
  it("skips jobs without a priority", () => {
    expect(classicAllocate([makeJob({ jobid: "1", priority: null })], [res("a")])).toEqual([])
  })

  it("skips jobs that are not queued", () => {
    const jobs = [
      makeJob({ jobid: "r", state: JobState.Running }),
      makeJob({ jobid: "o", state: JobState.Other })
    ]
    expect(classicAllocate(jobs, [res("a")])).toEqual([])
  })

  it("treats priority 0 and negative priorities as eligible", () => {
    const jobs = [makeJob({ jobid: "z", priority: 0 }), makeJob({ jobid: "n", priority: -5 })]
    expect(shape(jobs, [res("a")])).toEqual({ a: [{ cores: 2, jobs: ["z", "n"] }] })
  })

  it("orders highest priority first, ties in input order", () => {
    const jobs = [
      makeJob({ jobid: "low", priority: 1 }),
      makeJob({ jobid: "tie-a", priority: 5 }),
      makeJob({ jobid: "none", priority: null }),
      makeJob({ jobid: "high", priority: 9 }),
      makeJob({ jobid: "tie-b", priority: 5 })
    ]
    expect(eligibleJobs(jobs).map((j) => j.jobid)).toEqual(["high", "tie-a", "tie-b", "low"])
  })

  it("orders every queue as a stable sort by priority would (few or many priorities, sorted or not, some not eligible)", () => {
    const job = fc.record({
      priority: fc.oneof(fc.constantFrom(null, 1, 5, 9, -2, 0), fc.integer({ min: -50, max: 50 }), fc.constantFrom(Infinity, -Infinity, NaN)),
      queued: fc.boolean()
    })
    fc.assert(
      fc.property(fc.array(job, { maxLength: 60 }), fc.boolean(), (specs, presort) => {
        const list = specs.map((s, i) => makeJob({ jobid: String(i), priority: s.priority, state: s.queued || presort ? JobState.Queued : JobState.Running }))
        const jobs = presort ? [...list].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0)) : list
        const want = jobs.filter((j) => j.state === JobState.Queued && j.priority !== null).sort((a, b) => (b.priority as number) - (a.priority as number))
        expect(eligibleJobs(jobs).map((j) => j.jobid)).toEqual(want.map((j) => j.jobid))
      }),
      { numRuns: 500 }
    )
  })

  it("names each eligible job's shape: same kind, cores and cores per node exactly when the same shape number", () => {
    const job = fc.record({
      // (whole and close, far apart, fractional: the counting sort and the comparison sort)
      priority: fc.oneof(fc.constantFrom(null, 1, 5), fc.integer({ min: -3, max: 3 }), fc.constantFrom(1e9, -1e9, 0.5)),
      queued: fc.boolean(),
      queue: fc.constantFrom(null, "a", "b"),
      account: fc.constantFrom(null, "x"),
      property: fc.constantFrom(null, "gpu"),
      cores: fc.constantFrom(1, 2, 8, 2000000, 1.5),
      cpn: fc.constantFrom(0, 1, 2, 4000)
    })
    const sameKind = (a: Job, b: Job) => a.queue === b.queue && a.account === b.account && a.property === b.property
    fc.assert(
      fc.property(fc.array(job, { maxLength: 40 }), (specs) => {
        const jobs = specs.map((s, i) =>
          makeJob({ jobid: String(i), priority: s.priority, state: s.queued ? JobState.Queued : JobState.Running, queue: s.queue, account: s.account, property: s.property, requested_cores: s.cores, cores_per_node: s.cpn })
        )
        const q = eligibleQueue(jobs)
        expect(q.jobs.map((j) => j.jobid)).toEqual(eligibleJobs(jobs).map((j) => j.jobid))
        const shapeOf = new Map(q.jobs.map((j, k) => [j, q.shapeOf[k]]))
        jobs.forEach((j, i) => expect(q.inputShape[i]).toBe(j.state === JobState.Queued && j.priority !== null ? shapeOf.get(j) : -1))
        for (const a of q.jobs)
          for (const b of q.jobs) {
            const same = sameKind(a, b) && a.requested_cores === b.requested_cores && a.cores_per_node === b.cores_per_node
            expect(shapeOf.get(a) === shapeOf.get(b)).toBe(same)
            expect(q.shapes[shapeOf.get(a)!].kind === q.shapes[shapeOf.get(b)!].kind).toBe(sameKind(a, b))
          }
        for (const [j, s] of shapeOf) {
          const shape = q.shapes[s]
          expect([sameKind(shape.job, j), shape.cores, shape.cpn]).toEqual([true, j.requested_cores, j.cores_per_node])
          // the first job of the shape in input order
          expect(jobs.findIndex((x) => shapeOf.get(x) === s)).toBe(jobs.indexOf(shape.job))
        }
        expect(q.kinds).toBe(new Set(q.shapes.map((x) => x.kind)).size)
      }),
      { numRuns: 300 }
    )
  })

  it("gives short capacity to the highest-priority job", () => {
    const jobs = [
      makeJob({ jobid: "low", priority: 10, requested_cores: 4, cores_per_node: 4 }),
      makeJob({ jobid: "high", priority: 100, requested_cores: 4, cores_per_node: 4 })
    ]
    expect(shape(jobs, [res("a", { max: 1 })])).toEqual({ a: [{ cores: 4, jobs: ["high"] }] })
  })

  it("lets a smaller lower-priority job use what the bigger higher-priority job could not", () => {
    const jobs = [
      makeJob({ jobid: "small", priority: 1, requested_cores: 4, cores_per_node: 4 }),
      makeJob({ jobid: "big", priority: 2, requested_cores: 12, cores_per_node: 4 })
    ]
    expect(shape(jobs, [res("a", { max: 2 })])).toEqual({ a: [{ cores: 4, jobs: ["small"] }] })
  })
})

describe("rule 2: candidate resources by reservation", () => {
  it("a resource reserved for an account only takes jobs of that account", () => {
    const rs = [res("acct", { reservation: { account: "physics" } })]
    expect(counts([makeJob({ jobid: "1", account: "physics" })], rs)).toEqual({ acct: 1 })
    expect(counts([makeJob({ jobid: "2", account: "chemistry" })], rs)).toEqual({})
    expect(counts([makeJob({ jobid: "3", account: null })], rs)).toEqual({})
  })

  it("a resource reserved for a queue only takes jobs of that queue", () => {
    const rs = [res("q", { reservation: { queue: "gpu" } })]
    expect(counts([makeJob({ jobid: "1", queue: "gpu" })], rs)).toEqual({ q: 1 })
    expect(counts([makeJob({ jobid: "2", queue: "batch" })], rs)).toEqual({})
    expect(counts([makeJob({ jobid: "3", queue: null })], rs)).toEqual({})
  })

  it("a job asking for a property only goes to a resource reserving that property", () => {
    const rs = [res("plain"), res("other", { reservation: { property: "bigmem" } }), res("fast", { reservation: { property: "ssd" } })]
    expect(counts([makeJob({ jobid: "1", property: "ssd" })], rs)).toEqual({ fast: 1 })
    expect(counts([makeJob({ jobid: "2", property: "infiniband" })], rs)).toEqual({})
  })

  it("a resource reserving a property still takes jobs that ask for no property", () => {
    const rs = [res("fast", { reservation: { property: "ssd" } })]
    expect(counts([makeJob({ jobid: "1", property: null })], rs)).toEqual({ fast: 1 })
  })

  it("an unreserved resource takes jobs of any queue and account", () => {
    const jobs = [makeJob({ jobid: "1", queue: "q", account: "acc" })]
    expect(counts(jobs, [res("open")])).toEqual({ open: 1 })
  })

  it("all reservation fields must allow the job", () => {
    const rs = [res("both", { reservation: { queue: "gpu", account: "physics" } })]
    expect(counts([makeJob({ jobid: "1", queue: "gpu", account: "physics" })], rs)).toEqual({ both: 1 })
    expect(counts([makeJob({ jobid: "2", queue: "gpu", account: "chem" })], rs)).toEqual({})
    expect(counts([makeJob({ jobid: "3", queue: "batch", account: "physics" })], rs)).toEqual({})
  })
})

describe("rule 3: candidate order", () => {
  const names = (job: Job, rs: ReadonlyArray<AllocResource>) => orderCandidates(job, rs).map((r) => r.name)

  it("orders by priority ascending", () => {
    const rs = [res("p3", { priority: 3 }), res("p1", { priority: 1 }), res("p2", { priority: 2 })]
    expect(names(makeJob({ jobid: "1" }), rs)).toEqual(["p1", "p2", "p3"])
    expect(counts([makeJob({ jobid: "1" })], rs)).toEqual({ p1: 1 })
  })

  it("breaks priority ties by current node count ascending", () => {
    const rs = [res("busy", { current: 5 }), res("empty", { current: 0 }), res("some", { current: 2 })]
    expect(names(makeJob({ jobid: "1" }), rs)).toEqual(["empty", "some", "busy"])
    expect(counts([makeJob({ jobid: "1" })], rs)).toEqual({ empty: 1 })
  })

  it("priority wins over current count", () => {
    const rs = [res("cheap-but-full", { priority: 2, current: 0 }), res("preferred", { priority: 1, current: 8 })]
    expect(names(makeJob({ jobid: "1" }), rs)).toEqual(["preferred", "cheap-but-full"])
  })

  it("keeps input order for full ties", () => {
    const rs = [res("x"), res("y"), res("z")]
    expect(names(makeJob({ jobid: "1" }), rs)).toEqual(["x", "y", "z"])
  })

  it("moves resources whose reservation matches the job to the front, stably", () => {
    const rs = [
      res("open1", { priority: 1 }),
      res("acct-late", { priority: 9, current: 3, reservation: { account: "physics" } }),
      res("queue-mid", { priority: 5, reservation: { queue: "gpu" } }),
      res("open2", { priority: 2 }),
      res("acct-early", { priority: 9, current: 1, reservation: { account: "physics" } })
    ]
    const job = makeJob({ jobid: "1", account: "physics", queue: "gpu" })
    expect(names(job, rs)).toEqual(["queue-mid", "acct-early", "acct-late", "open1", "open2"])
    expect(counts([job], rs)).toEqual({ "queue-mid": 1 })
  })

  it("a matching reservation beats a better-priority open resource; null fields never match", () => {
    const rs = [res("open", { priority: 1 }), res("ssd", { priority: 7, reservation: { property: "ssd" } })]
    // A job asking for no property may use both, but does not match the property reservation.
    expect(names(makeJob({ jobid: "1" }), rs)).toEqual(["open", "ssd"])
    expect(names(makeJob({ jobid: "1", property: "ssd" }), rs)).toEqual(["ssd"])
    const acctRes = [res("open", { priority: 1 }), res("mine", { priority: 7, reservation: { account: "me" } })]
    expect(counts([makeJob({ jobid: "2", account: "me" })], acctRes)).toEqual({ mine: 1 })
  })

  it("excludes resources the job may not use", () => {
    const rs = [res("open"), res("theirs", { reservation: { account: "them" } })]
    expect(names(makeJob({ jobid: "1", account: "me" }), rs)).toEqual(["open"])
  })
})

describe("rule 4: packing per node", () => {
  it("packs several cores_per_node jobs onto the same proposed node", () => {
    const jobs = [
      makeJob({ jobid: "1", requested_cores: 2, cores_per_node: 2 }),
      makeJob({ jobid: "2", requested_cores: 2, cores_per_node: 2 }),
      makeJob({ jobid: "3", requested_cores: 2, cores_per_node: 2 })
    ]
    expect(shape(jobs, [res("a", { coresPerNode: 4 })])).toEqual({
      a: [
        { cores: 4, jobs: ["1", "2"] },
        { cores: 2, jobs: ["3"] }
      ]
    })
  })

  it("needs ceil(requested / cores_per_node) nodes", () => {
    expect(counts([makeJob({ jobid: "1", requested_cores: 8, cores_per_node: 4 })], [res("a", { coresPerNode: 4 })])).toEqual({ a: 2 })
    // 5 / 2 = 2.5 -> 3 nodes with 2 cores promised each (not floored to 2).
    expect(shape([makeJob({ jobid: "2", requested_cores: 5, cores_per_node: 2 })], [res("a", { coresPerNode: 2 })])).toEqual({
      a: [
        { cores: 2, jobs: ["2"] },
        { cores: 2, jobs: ["2"] },
        { cores: 2, jobs: ["2"] }
      ]
    })
  })

  it("places one cores_per_node chunk per node, even on a large node", () => {
    // nodes=2:ppn=2 on 8-core nodes: two nodes with 2 cores each, not one node with 4.
    expect(shape([makeJob({ jobid: "1", requested_cores: 4, cores_per_node: 2 })], [res("a", { coresPerNode: 8 })])).toEqual({
      a: [
        { cores: 2, jobs: ["1"] },
        { cores: 2, jobs: ["1"] }
      ]
    })
  })

  it("uses proposed nodes with room first, then new nodes", () => {
    const jobs = [
      makeJob({ jobid: "a", priority: 3, requested_cores: 6, cores_per_node: 3 }),
      makeJob({ jobid: "b", priority: 2, requested_cores: 3, cores_per_node: 1 })
    ]
    // a: two nodes with 3/4; b: 3 chunks of 1 -> fills both, then a new node.
    expect(shape(jobs, [res("r", { coresPerNode: 4 })])).toEqual({
      r: [
        { cores: 4, jobs: ["a", "b"] },
        { cores: 4, jobs: ["a", "b"] },
        { cores: 1, jobs: ["b"] }
      ]
    })
  })

  it("skips proposed nodes without room for a whole chunk", () => {
    const jobs = [
      makeJob({ jobid: "a", priority: 3, requested_cores: 3, cores_per_node: 3 }),
      makeJob({ jobid: "b", priority: 2, requested_cores: 2, cores_per_node: 2 })
    ]
    expect(shape(jobs, [res("r", { coresPerNode: 4 })])).toEqual({
      r: [
        { cores: 3, jobs: ["a"] },
        { cores: 2, jobs: ["b"] }
      ]
    })
  })

  it("a job needing more cores per node than the resource's nodes have never fits", () => {
    const rs = [res("small", { coresPerNode: 4, max: 100 })]
    expect(counts([makeJob({ jobid: "1", requested_cores: 8, cores_per_node: 8 })], rs)).toEqual({})
  })

  it("a job bigger than one node falls through to a resource with bigger nodes", () => {
    const rs = [res("small", { priority: 1, coresPerNode: 4 }), res("big", { priority: 2, coresPerNode: 16 })]
    expect(counts([makeJob({ jobid: "1", requested_cores: 8, cores_per_node: 8 })], rs)).toEqual({ big: 1 })
  })

  it("a job with requested cores above cores_per_node but cores_per_node within the node fits on several nodes", () => {
    expect(counts([makeJob({ jobid: "1", requested_cores: 16, cores_per_node: 4 })], [res("a", { coresPerNode: 4, max: 4 })])).toEqual({ a: 4 })
  })
})

describe("rule 4: spread jobs (cores_per_node 0)", () => {
  it("adds whole nodes then a partial one", () => {
    expect(shape([makeJob({ jobid: "s", requested_cores: 10, cores_per_node: 0 })], [res("a", { coresPerNode: 4 })])).toEqual({
      a: [
        { cores: 4, jobs: ["s"] },
        { cores: 4, jobs: ["s"] },
        { cores: 2, jobs: ["s"] }
      ]
    })
  })

  it("fills partly promised nodes before adding new ones", () => {
    const jobs = [
      makeJob({ jobid: "p", priority: 9, requested_cores: 1, cores_per_node: 1 }),
      makeJob({ jobid: "s", priority: 1, requested_cores: 5, cores_per_node: 0 })
    ]
    expect(shape(jobs, [res("a", { coresPerNode: 4 })])).toEqual({
      a: [
        { cores: 4, jobs: ["p", "s"] },
        { cores: 2, jobs: ["s"] }
      ]
    })
  })

  it("takes only the cores it needs from a partly promised node", () => {
    const jobs = [
      makeJob({ jobid: "p", priority: 9, requested_cores: 1, cores_per_node: 1 }),
      makeJob({ jobid: "s", priority: 5, requested_cores: 1, cores_per_node: 0 }),
      makeJob({ jobid: "t", priority: 1, requested_cores: 2, cores_per_node: 0 })
    ]
    expect(shape(jobs, [res("a", { coresPerNode: 4 })])).toEqual({ a: [{ cores: 4, jobs: ["p", "s", "t"] }] })
  })

  it("spreads across several partly promised nodes", () => {
    const jobs = [
      makeJob({ jobid: "p", priority: 9, requested_cores: 2, cores_per_node: 1 }),
      makeJob({ jobid: "s", priority: 1, requested_cores: 6, cores_per_node: 0 })
    ]
    expect(shape(jobs, [res("a", { coresPerNode: 4 })])).toEqual({
      a: [
        { cores: 4, jobs: ["p", "s"] },
        { cores: 4, jobs: ["p", "s"] }
      ]
    })
  })

  it("is limited by the cores left", () => {
    const rs = [res("a", { coresPerNode: 4, max: 3, current: 1 })]
    expect(counts([makeJob({ jobid: "s", requested_cores: 8, cores_per_node: 0 })], rs)).toEqual({ a: 2 })
    expect(counts([makeJob({ jobid: "s", requested_cores: 9, cores_per_node: 0 })], rs)).toEqual({})
  })
})

describe("rule 4: max limits", () => {
  it("never proposes more than max - current nodes", () => {
    const jobs = Array.from({ length: 10 }, (_, i) => makeJob({ jobid: String(i), requested_cores: 4, cores_per_node: 4 }))
    expect(counts(jobs, [res("a", { max: 5, current: 2 })])).toEqual({ a: 3 })
  })

  it("a resource at max takes nothing", () => {
    expect(counts([makeJob({ jobid: "1" })], [res("a", { max: 3, current: 3 })])).toEqual({})
  })

  it("a resource above max (e.g. after a freeze) takes nothing", () => {
    expect(counts([makeJob({ jobid: "1" })], [res("a", { max: 2, current: 4 })])).toEqual({})
  })

  it("a multi-node job needing more than max - current nodes does not fit even if cores would", () => {
    // nodes=3:ppn=1 wants 3 distinct nodes; only 2 new nodes allowed although 8 cores are left.
    expect(counts([makeJob({ jobid: "1", requested_cores: 3, cores_per_node: 1 })], [res("a", { coresPerNode: 4, max: 2 })])).toEqual({})
    expect(counts([makeJob({ jobid: "2", requested_cores: 3, cores_per_node: 2 })], [res("a", { coresPerNode: 4, max: 2 })])).toEqual({ a: 2 })
    expect(counts([makeJob({ jobid: "3", requested_cores: 6, cores_per_node: 2 })], [res("a", { coresPerNode: 2, max: 2 })])).toEqual({})
  })

  it("counts full proposed nodes against the node limit", () => {
    const jobs = [
      makeJob({ jobid: "a", priority: 3, requested_cores: 3, cores_per_node: 3 }),
      makeJob({ jobid: "b", priority: 2, requested_cores: 3, cores_per_node: 3 }),
      // 2 cores left in total, but no node has room for a 2-core chunk.
      makeJob({ jobid: "c", priority: 1, requested_cores: 2, cores_per_node: 2 })
    ]
    expect(shape(jobs, [res("r", { coresPerNode: 4, max: 2 })])).toEqual({
      r: [
        { cores: 3, jobs: ["a"] },
        { cores: 3, jobs: ["b"] }
      ]
    })
  })

  it("ignores min (the allocator only grows for queued jobs)", () => {
    expect(counts([], [res("a", { min: 3 })])).toEqual({})
  })

  it("does not look at the flag: a frozen or draining resource is governed only by min/max", () => {
    const job = makeJob({ jobid: "1" })
    expect(counts([job], [res("f", { flag: ResourceFlag.Frozen, max: 2, current: 1 })])).toEqual({ f: 1 })
    expect(counts([job], [res("f", { flag: ResourceFlag.Frozen, max: 2, current: 2 })])).toEqual({})
    expect(counts([job], [res("d", { flag: ResourceFlag.Draining, max: 0, current: 1 })])).toEqual({})
    expect(counts([job], [res("d", { flag: ResourceFlag.Drained, max: 0, current: 0 })])).toEqual({})
  })

  it("a resource whose cores per node are unknown takes no jobs", () => {
    const spread = makeJob({ jobid: "s", requested_cores: 0, cores_per_node: 0 })
    const one = makeJob({ jobid: "1" })
    expect(counts([spread, one], [res("u", { coresPerNode: 0 })])).toEqual({})
    expect(counts([one], [res("u", { coresPerNode: -1 })])).toEqual({})
    expect(counts([one], [res("u", { coresPerNode: 0, priority: 1 }), res("k", { priority: 2 })])).toEqual({ k: 1 })
  })
})

describe("multiple resources", () => {
  it("falls through to the next candidate when the first is full", () => {
    const jobs = Array.from({ length: 5 }, (_, i) => makeJob({ jobid: String(i), requested_cores: 4, cores_per_node: 4 }))
    const rs = [res("first", { priority: 1, max: 2 }), res("second", { priority: 2, max: 2 }), res("third", { priority: 3, max: 10 })]
    expect(counts(jobs, rs)).toEqual({ first: 2, second: 2, third: 1 })
  })

  it("a job that fits nowhere is skipped and later jobs still get placed", () => {
    const jobs = [
      makeJob({ jobid: "huge", priority: 10, requested_cores: 64, cores_per_node: 0 }),
      makeJob({ jobid: "small", priority: 1 })
    ]
    expect(shape(jobs, [res("a", { max: 2 })])).toEqual({ a: [{ cores: 1, jobs: ["small"] }] })
  })

  it("sends each job to its reserved resource and the rest to the open one", () => {
    const jobs = [
      makeJob({ jobid: "gpu1", queue: "gpu", priority: 5 }),
      makeJob({ jobid: "phys", account: "physics", priority: 4 }),
      makeJob({ jobid: "plain", priority: 3 }),
      makeJob({ jobid: "gpu2", queue: "gpu", priority: 2, requested_cores: 4, cores_per_node: 4 })
    ]
    const rs = [
      res("open", { priority: 1 }),
      res("gpu", { priority: 5, reservation: { queue: "gpu" } }),
      res("phys", { priority: 5, reservation: { account: "physics" } })
    ]
    expect(shape(jobs, rs)).toEqual({
      open: [{ cores: 1, jobs: ["plain"] }],
      gpu: [
        { cores: 1, jobs: ["gpu1"] },
        { cores: 4, jobs: ["gpu2"] }
      ],
      phys: [{ cores: 1, jobs: ["phys"] }]
    })
  })

  it("a reserved job overflows from its reserved resource to an open one", () => {
    const jobs = [
      makeJob({ jobid: "1", account: "physics", priority: 2, requested_cores: 4, cores_per_node: 4 }),
      makeJob({ jobid: "2", account: "physics", priority: 1, requested_cores: 4, cores_per_node: 4 })
    ]
    const rs = [res("open", { priority: 1 }), res("phys", { priority: 9, max: 1, reservation: { account: "physics" } })]
    expect(counts(jobs, rs)).toEqual({ open: 1, phys: 1 })
  })

  it("keeps proposals separate per resource while jobs alternate", () => {
    const jobs = [
      makeJob({ jobid: "a1", queue: "a", priority: 4, requested_cores: 2, cores_per_node: 2 }),
      makeJob({ jobid: "b1", queue: "b", priority: 3, requested_cores: 2, cores_per_node: 2 }),
      makeJob({ jobid: "a2", queue: "a", priority: 2, requested_cores: 2, cores_per_node: 2 }),
      makeJob({ jobid: "b2", queue: "b", priority: 1, requested_cores: 2, cores_per_node: 2 })
    ]
    const rs = [res("A", { reservation: { queue: "a" } }), res("B", { reservation: { queue: "b" } })]
    expect(shape(jobs, rs)).toEqual({
      A: [{ cores: 4, jobs: ["a1", "a2"] }],
      B: [{ cores: 4, jobs: ["b1", "b2"] }]
    })
  })
})

describe("tryFit", () => {
  it("leaves the proposal untouched when the job does not fit", () => {
    const proposal: Array<ProposedNode> = [{ cores: 3, jobs: ["x"] }]
    const before = structuredClone(proposal)
    expect(tryFit(makeJob({ jobid: "1", requested_cores: 2, cores_per_node: 2 }), res("a", { coresPerNode: 4, max: 1 }), proposal)).toBe(false)
    expect(tryFit(makeJob({ jobid: "2", requested_cores: 5, cores_per_node: 0 }), res("a", { coresPerNode: 4, max: 1 }), proposal)).toBe(false)
    expect(proposal).toEqual(before)
  })

  it("rejects malformed job sizes", () => {
    const r = res("a")
    expect(tryFit(makeJob({ jobid: "1", requested_cores: -1 }), r, [])).toBe(false)
    expect(tryFit(makeJob({ jobid: "2", cores_per_node: Number.NaN }), r, [])).toBe(false)
  })
})

describe("properties", () => {
  const pick = <T>(xs: ReadonlyArray<T>) => fc.constantFrom(...xs)
  const maybe = (xs: ReadonlyArray<string>) => fc.option(pick(xs), { nil: null })
  const jobArb = fc.record({
    queue: maybe(["q1", "q2"]),
    account: maybe(["a1", "a2"]),
    property: fc.option(pick(["p1"]), { nil: null, freq: 4 }),
    priority: fc.option(fc.integer({ min: -5, max: 5 }), { nil: null, freq: 6 }),
    state: pick([JobState.Queued, JobState.Queued, JobState.Running]),
    requested_cores: fc.integer({ min: 0, max: 20 }),
    cores_per_node: fc.integer({ min: 0, max: 8 })
  })
  const resArb = fc.record({
    priority: fc.integer({ min: 0, max: 3 }),
    max: fc.integer({ min: 0, max: 6 }),
    current: fc.integer({ min: 0, max: 6 }),
    coresPerNode: fc.integer({ min: -1, max: 8 }),
    queue: maybe(["q1", "q2"]),
    account: maybe(["a1", "a2"]),
    property: maybe(["p1"])
  })
  const world = fc.record({ jobs: fc.array(jobArb, { maxLength: 12 }), resources: fc.array(resArb, { maxLength: 4 }) }).map(
    ({ jobs, resources }) => ({
      jobs: jobs.map((j, i) => makeJob({ jobid: `j${i}`, ...j })),
      resources: resources.map((r, i) =>
        res(`r${i}`, { ...r, reservation: { queue: r.queue, account: r.account, property: r.property } })
      )
    })
  )

  it("respects max, node size, reservations and eligibility", () => {
    fc.assert(
      fc.property(world, ({ jobs, resources }) => {
        const byName = new Map(resources.map((r) => [r.name, r]))
        const byId = new Map(jobs.map((j) => [j.jobid, j]))
        const seen = new Map<string, string>()
        for (const p of classicAllocate(jobs, resources)) {
          const r = byName.get(p.resource)!
          expect(p.nodes.length).toBeGreaterThan(0)
          expect(p.nodes.length).toBeLessThanOrEqual(r.max - r.current)
          for (const n of p.nodes) {
            expect(n.cores).toBeGreaterThan(0)
            expect(n.cores).toBeLessThanOrEqual(r.coresPerNode)
            expect(n.jobs.length).toBeGreaterThan(0)
            for (const id of n.jobs) {
              const j = byId.get(id)!
              expect(j.state).toBe(JobState.Queued)
              expect(j.priority).not.toBeNull()
              if (r.reservation.account !== null) expect(j.account).toBe(r.reservation.account)
              if (r.reservation.queue !== null) expect(j.queue).toBe(r.reservation.queue)
              if (j.property !== null) expect(r.reservation.property).toBe(j.property)
              // A job is placed on one resource only.
              expect(seen.get(id) ?? r.name).toBe(r.name)
              seen.set(id, r.name)
            }
          }
          // Every placed job got what it asked for on this resource.
          for (const id of new Set(p.nodes.flatMap((n) => n.jobs))) {
            const j = byId.get(id)!
            const nodesWithJob = p.nodes.filter((n) => n.jobs.includes(id)).length
            if (j.cores_per_node > 0) expect(nodesWithJob).toBe(Math.ceil(j.requested_cores / j.cores_per_node))
            else expect(nodesWithJob).toBeGreaterThanOrEqual(Math.ceil(j.requested_cores / r.coresPerNode))
          }
        }
      }),
      { numRuns: 500 }
    )
  })

  it("promises exactly the cores the placed jobs asked for", () => {
    fc.assert(
      fc.property(world, ({ jobs, resources }) => {
        const byId = new Map(jobs.map((j) => [j.jobid, j]))
        for (const p of classicAllocate(jobs, resources)) {
          const ids = new Set(p.nodes.flatMap((n) => n.jobs))
          const asked = [...ids].reduce((sum, id) => {
            const j = byId.get(id)!
            return sum + (j.cores_per_node > 0 ? Math.ceil(j.requested_cores / j.cores_per_node) * j.cores_per_node : j.requested_cores)
          }, 0)
          expect(p.nodes.reduce((sum, n) => sum + n.cores, 0)).toBe(asked)
        }
      }),
      { numRuns: 500 }
    )
  })
})
