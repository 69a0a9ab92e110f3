/**
 * The decision log behind GET /server/decisions and dyncluster_decisions_total:
 * entries with their reason and words, the bound, coalesced refusals,
 * `since` and `limit`, and the endpoint (shape, codes, bad input → JSON 400).
 */
import { Effect, Exit, Scope } from "effect"
import { describe, expect, it } from "vitest"
import type { Decision } from "../engine/decisions.ts"
import { REASON_CODES } from "../engine/decisions.ts"
import { DEFAULT_DECISIONS_LIMIT, makeDecisionLog } from "./decisions.ts"
import { parseExposition, sampleValue } from "./testing/promFormat.ts"
import { makeFakeEngine } from "./testing/fakeEngine.ts"
import { listenHttp, makeHttpApp } from "./server.ts"

const provision = (resource: string, count: number, jobs?: Array<string>, jobsTotal = jobs?.length ?? 0): Decision => ({
  kind: "provision", resource, count, reason: "queued_jobs", jobs, jobsTotal
})
const refuse = (resource: string, count: number, reason: "at_max" | "frozen" | "backoff" = "at_max"): Extract<Decision, { kind: "refuse"; resource: string }> => ({
  kind: "refuse", resource, count, by: "policy", reason, max: 16, until: 1_700_000_130, failures: 3
})

describe("the decision log", () => {
  it("lists an operator's actions with by: operator, their hosts or count, and the words of the log", () => {
    const log = makeDecisionLog()
    log.record({ t: 50, decisions: [{ kind: "hold", host: "os-1", resource: "os", reason: "operator", by: "operator" }] })
    log.record({ t: 60, decisions: [{ kind: "drain", resource: "os", hosts: ["os-2", "os-3"], reason: "operator", by: "operator" }] })
    log.record({ t: 70, decisions: [{ kind: "launch", resource: "os", count: 2, reason: "operator", by: "operator" }] })
    const common = { repeats: 1, resource: "os", jobs: [], jobs_total: 0, jobs_truncated: false, reason: "operator", by: "operator", dry_run: false }
    expect(log.answer().decisions).toEqual([
      { ...common, t: 50, last_t: 50, kind: "hold", hosts: ["os-1"], message: "operator held os-1" },
      { ...common, t: 60, last_t: 60, kind: "drain", hosts: ["os-2", "os-3"], message: "operator drains os: os-2, os-3 held, removed or given up" },
      { ...common, t: 70, last_t: 70, kind: "launch", count: 2, message: "operator launches 2 node(s) in os" }
    ])
    expect(log.totals()).toContainEqual({ kind: "drain", reason: "operator", resource: "os", value: 1 })
  })

  it("lists decisions oldest first with kind, resource, count or hosts, jobs, reason, message, dry_run", () => {
    const log = makeDecisionLog()
    log.record({ t: 100, decisions: [provision("os", 2, ["7", "8"])] })
    log.record({
      t: 110,
      decisions: [
        { kind: "hold", host: "os-1", resource: "os", reason: "idle", idleFor: 400, limit: 300, limitBy: "max_idle_time" },
        { kind: "refresh", host: "os-2", resource: "os", reason: "poll_due" }
      ]
    })
    const { decisions } = log.answer()
    expect(decisions).toEqual([
      {
        t: 100, last_t: 100, repeats: 1, kind: "provision", resource: "os", count: 2, jobs: ["7", "8"], jobs_total: 2, jobs_truncated: false,
        reason: "queued_jobs", message: "provisioning 2 node(s) in os for queued jobs", dry_run: false
      },
      {
        t: 110, last_t: 110, repeats: 1, kind: "hold", resource: "os", hosts: ["os-1"], jobs: [], jobs_total: 0, jobs_truncated: false,
        reason: "idle", message: "holding os-1: idle for 400s (max_idle_time 300s)", dry_run: false
      }
    ])
    for (const d of decisions) expect(REASON_CODES).toContain(d.reason)
    // routine polls are counted, not listed
    expect(log.totals()).toContainEqual({ kind: "refresh", reason: "poll_due", resource: "os", value: 1 })
  })

  it("coalesces a repeated refusal (repeats, first and last time, the last numbers) until something else is decided for the resource", () => {
    const log = makeDecisionLog()
    for (const t of [10, 20, 30]) log.record({ t, decisions: [refuse("aws", 3)] })
    log.record({ t: 35, decisions: [refuse("os", 1, "backoff")] })
    log.record({ t: 40, decisions: [refuse("aws", 3)] })
    let d = log.answer().decisions
    expect(d.map((e) => [e.resource, e.reason, e.t, e.last_t, e.repeats])).toEqual([
      ["aws", "at_max", 10, 40, 4],
      ["os", "backoff", 35, 35, 1]
    ])
    expect(d[0].message).toBe("not starting 3 node(s) in aws wanted by the policy: aws is at its max 16")
    // the same reason with other numbers: the entry takes the last numbers
    log.record({ t: 50, decisions: [refuse("aws", 2)] })
    d = log.answer().decisions
    expect(d.map((e) => [e.resource, e.count, e.t, e.last_t, e.repeats])).toEqual([["aws", 2, 10, 50, 5], ["os", 1, 35, 35, 1]])
    expect(d[0].message).toBe("not starting 2 node(s) in aws wanted by the policy: aws is at its max 16")
    // another reason, or a provision in between, opens a new entry
    log.record({ t: 55, decisions: [refuse("aws", 2, "frozen")] })
    log.record({ t: 60, decisions: [provision("aws", 1)] })
    log.record({ t: 70, decisions: [refuse("aws", 2, "frozen")] })
    d = log.answer().decisions
    expect(d.map((e) => [e.kind, e.reason, e.t, e.repeats])).toEqual([
      ["refuse", "at_max", 10, 5], ["refuse", "backoff", 35, 1], ["refuse", "frozen", 55, 1], ["provision", "queued_jobs", 60, 1], ["refuse", "frozen", 70, 1]
    ])
    expect(d[1].message).toBe("not starting 1 node(s) in os wanted by the policy: os is backing off until 2023-11-14T22:15:30Z after 3 failed boot(s)")
    expect(d[2].message).toBe("not starting 2 node(s) in aws wanted by the policy: aws is frozen by the operator (at 16 node(s))")
    // every refusal is counted
    expect(log.totals()).toContainEqual({ kind: "refuse", reason: "at_max", resource: "aws", value: 5 })
  })

  it("refusals that name queued jobs: the job count beside the first 20, coalesced per cause, no resource", () => {
    const log = makeDecisionLog()
    const ids = (n: number) => Array.from({ length: n }, (_, i) => String(100 + i))
    const noMatch = (jobs: Array<string>, total: number, needs = 32): Decision => ({
      kind: "refuse", resource: null, reason: "no_matching_resource", match: { why: "cores_per_node", needs, offered: 16 }, jobs, jobsTotal: total
    })
    log.record({ t: 10, decisions: [noMatch(["123"], 1), provision("os", 3, ids(20), 45)] })
    log.record({ t: 20, decisions: [noMatch(["123", "124"], 2), noMatch(["200"], 1, 64)] })
    log.record({ t: 30, decisions: [{ kind: "refuse", resource: null, reason: "auto_mode_off", jobs: ids(20), jobsTotal: 30 }] })
    log.record({ t: 40, decisions: [{ ...refuse("aws", 4), jobs: ["7"], jobsTotal: 1 }] })
    const d = log.answer().decisions
    expect(d.map((e) => [e.kind, e.reason, e.resource, e.t, e.last_t, e.repeats, e.jobs_total, e.jobs_truncated])).toEqual([
      ["refuse", "no_matching_resource", null, 10, 20, 2, 2, false],
      ["provision", "queued_jobs", "os", 10, 10, 1, 45, true],
      ["refuse", "no_matching_resource", null, 20, 20, 1, 1, false],
      ["refuse", "auto_mode_off", null, 30, 30, 1, 30, true],
      ["refuse", "at_max", "aws", 40, 40, 1, 1, false]
    ])
    expect(d[0]).not.toHaveProperty("by")
    expect(d[0]).not.toHaveProperty("count")
    expect(d[1].jobs).toHaveLength(20)
    expect(d[0].message).toBe("jobs 123, 124 need 32 cores per node and no resource offers that (at most 16)")
    expect(d[2].message).toBe("job 200 needs 64 cores per node and no resource offers that (at most 16)")
    expect(d[3].message).toBe("auto mode is off: jobs 100, 101, 102 and 27 more could get new nodes and none is started")
    expect(d[4].message).toBe("not starting 4 node(s) in aws for queued job 7: aws is at its max 16")
    // counted with an empty resource label
    expect(log.totals()).toContainEqual({ kind: "refuse", reason: "no_matching_resource", resource: "", value: 3 })
  })

  it("is bounded: the newest entries stay", () => {
    const log = makeDecisionLog(100)
    for (let t = 0; t < 1000; t++) log.record({ t, decisions: [provision("os", 1)] })
    const a = log.answer({ limit: 10_000 })
    expect(a.max_entries).toBe(100)
    expect(a.decisions).toHaveLength(100)
    expect(a.decisions[0].t).toBe(900)
    expect(a.decisions.at(-1)!.t).toBe(999)
  })

  it("since: entries last taken at or after it; limit: the newest N, default 200", () => {
    const log = makeDecisionLog()
    for (let t = 0; t < 500; t++) log.record({ t, decisions: [provision("os", 1)] })
    expect(log.answer().decisions).toHaveLength(DEFAULT_DECISIONS_LIMIT)
    expect(log.answer().decisions[0].t).toBe(300)
    expect(log.answer({ since: 495 }).decisions.map((e) => e.t)).toEqual([495, 496, 497, 498, 499])
    expect(log.answer({ since: 100, limit: 3 }).decisions.map((e) => e.t)).toEqual([497, 498, 499])
    expect(log.answer({ limit: 0 }).decisions).toEqual([])
  })
})

describe("GET /server/decisions", () => {
  const withServer = async (f: (url: string) => Promise<void>, withLog = true) => {
    const log = makeDecisionLog()
    log.record({ t: 100, decisions: [provision("os", 2, ["7"])] })
    log.record({ t: 200, decisions: [refuse("aws", 1, "frozen")] })
    const scope = Effect.runSync(Scope.make())
    const app = makeHttpApp(makeFakeEngine(), { token: null, tokenForReads: false, ...(withLog ? { decisions: log } : {}) })
    const { url } = await Effect.runPromise(listenHttp(app, { host: "127.0.0.1", port: 0 }).pipe(Scope.extend(scope)))
    try {
      await f(url)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
  const get = async (url: string) => {
    const res = await fetch(url)
    expect(res.headers.get("content-type")).toMatch(/^application\/json\b/)
    return { status: res.status, body: await res.json() }
  }

  it("answers the log; since and limit; bad parameters are a JSON 400 naming the parameter; /metrics counts", async () => {
    await withServer(async (url) => {
      const all = await get(url + "/server/decisions")
      expect(all.status).toBe(200)
      expect(all.body.max_entries).toBe(10_000)
      expect(all.body.decisions.map((d: any) => [d.kind, d.reason, d.resource])).toEqual([
        ["provision", "queued_jobs", "os"],
        ["refuse", "frozen", "aws"]
      ])
      expect(all.body.decisions[1]).toMatchObject({ count: 1, by: "policy", message: "not starting 1 node(s) in aws wanted by the policy: aws is frozen by the operator (at 16 node(s))" })
      expect((await get(url + "/server/decisions?since=150")).body.decisions.map((d: any) => d.t)).toEqual([200])
      expect((await get(url + "/server/decisions?limit=1")).body.decisions.map((d: any) => d.t)).toEqual([200])
      for (const [q, name] of [["limit=10001", "limit"], ["limit=x", "limit"], ["limit=1&limit=2", "limit"], ["since=-5", "since"], ["since=", "since"]]) {
        const r = await get(`${url}/server/decisions?${q}`)
        expect(r.status, q).toBe(400)
        expect(Object.keys(r.body)).toEqual(["error"])
        expect(r.body.error).toMatch(new RegExp(`^${name}: `))
      }
      const e = parseExposition(await (await fetch(url + "/metrics")).text())
      expect(e.problems).toEqual([])
      expect(sampleValue(e, "dyncluster_decisions_total", { kind: "refuse", reason: "frozen", resource: "aws" })).toBe(1)
      expect((await get(url + "/")).body.endpoints).toContain("GET /server/decisions[?since=T&limit=N]")
    })
  })

  it("is a JSON 404 on a server that keeps no log", async () => {
    await withServer(async (url) => {
      const r = await get(url + "/server/decisions")
      expect(r.status).toBe(404)
      expect(r.body.error).toMatch(/no log of decisions/)
    }, false)
  })
})
