/**
 * Why queued jobs get no node, through the daemon's HTTP API: `dyncluster run
 * --sim` on src/daemon/fixtures/refusals.yaml, where each job waits for
 * another reason. GET /server/decisions must list a refusal naming each:
 * a job that fits no resource, a resource at its max, one backing off, one
 * frozen by the operator, and auto mode off; coalesced (one entry, not one
 * per poll), in the documented shape; bad parameters are a JSON 400.
 */
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { REASON_CODES } from "../engine/decisions.ts"
import { startDyncluster, type Daemon } from "./testing/process.ts"

const SCENARIO = fileURLToPath(new URL("./fixtures/refusals.yaml", import.meta.url))
const TOKEN = "refusals-test-token-3b9e"
const json = (line: string): Record<string, unknown> => {
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return {}
  }
}

describe("dyncluster run --sim: refusals in GET /server/decisions", () => {
  let daemon: Daemon
  let url = ""
  beforeAll(async () => {
    daemon = startDyncluster(["run", "--sim", SCENARIO, "--speed", "50", "--port", "0", "--log-format", "json"], { DYNCLUSTER_TOKEN: TOKEN })
    url = json(await daemon.waitForLine((l) => json(l).url !== undefined, 120_000)).url as string
  }, 150_000)
  afterAll(() => daemon?.kill("SIGKILL"))

  const send = (method: string, path: string) => fetch(url + path, { method, headers: { authorization: `Bearer ${TOKEN}` } })
  const decisions = async (query = ""): Promise<Array<any>> => {
    const res = await fetch(`${url}/server/decisions${query}`)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/^application\/json\b/)
    return ((await res.json()) as any).decisions
  }
  const until = async (what: string, pred: (d: any) => boolean, ms = 90_000): Promise<any> => {
    const end = Date.now() + ms
    for (;;) {
      const hit = (await decisions("?limit=10000")).find(pred)
      if (hit !== undefined) return hit
      if (Date.now() > end) throw new Error(`no decision ${what} within ${ms} ms:\n${JSON.stringify(await decisions(), null, 1)}`)
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  it("a job that fits no resource, a resource at max, in back-off, frozen, then auto mode off: each a refusal naming the jobs", async () => {
    // freeze `cold` at 0 nodes before cold.1 is queued (at 1,500 s simulated, 30 s here)
    let frozen: Response | undefined
    for (let i = 0; i < 50 && frozen?.status !== 200; i++) {
      frozen = await send("PUT", "/resource/cold/freeze")
      if (frozen.status !== 200) await new Promise((r) => setTimeout(r, 200))
    }
    expect(frozen?.status, await frozen?.clone().text()).toBe(200)

    const noMatch = await until("for wide.1", (d) => d.reason === "no_matching_resource" && d.jobs.includes("wide.1"))
    expect(noMatch).toMatchObject({ kind: "refuse", resource: null, jobs: ["wide.1"], jobs_total: 1, jobs_truncated: false })
    expect(noMatch).not.toHaveProperty("count")
    expect(noMatch.message).toBe("job wide.1 needs 32 cores per node and no resource offers that (at most 2)")

    // full's one node boots for busy.1 (simulated 0-35 s): the refusal names only the jobs it will not take
    const atMax = await until("at max for busy.2, busy.3", (d) => d.reason === "at_max" && d.resource === "full" && d.jobs.includes("busy.2"))
    expect(atMax).toMatchObject({ kind: "refuse", by: "policy", count: 2, jobs: ["busy.2", "busy.3"], jobs_total: 2 })
    expect(atMax.message).toBe("not starting 2 node(s) in full for queued jobs busy.2, busy.3: full is at its max 1")

    const backoff = await until("back-off for flaky.1", (d) => d.reason === "backoff" && d.resource === "broken" && d.jobs.includes("flaky.1"))
    expect(backoff.message).toMatch(/^not starting 1 node\(s\) in broken for queued job flaky\.1: broken is backing off until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ after [1-9]\d* failed boot\(s\)$/)

    const cold = await until("frozen for cold.1", (d) => d.reason === "frozen" && d.resource === "cold" && d.jobs.includes("cold.1"))
    expect(cold.message).toBe("not starting 1 node(s) in cold for queued job cold.1: cold is frozen by the operator (at 0 node(s))")

    // coalesced: the same refusal step after step is one entry whose repeats grow
    const later = await until("repeated", (d) => d.reason === "no_matching_resource" && d.repeats > 3)
    expect(later.t).toBe(noMatch.t)
    expect(later.last_t).toBeGreaterThan(later.t)
    expect((await decisions("?limit=10000")).filter((d) => d.reason === "no_matching_resource")).toHaveLength(1)

    // auto mode off: the next late.* job could get a node in `spare` and gets none
    expect((await send("DELETE", "/server/auto")).status).toBe(200)
    // (and flaky.1 whenever `broken` is between two back-offs)
    const off = await until("auto mode off", (d) => d.reason === "auto_mode_off" && d.jobs.some((j: string) => j.startsWith("late.")))
    expect(off).toMatchObject({ kind: "refuse", resource: null })
    expect(off.jobs.every((j: string) => j.startsWith("late.") || j === "flaky.1")).toBe(true)
    expect(off.message).toMatch(/^auto mode is off: jobs? (late\.\d+|flaky\.1).* could get new nodes and none is started$/)
    // the blocked jobs keep their own reasons with auto mode off
    const atMaxOff = await until("at max after auto off", (d) => d.reason === "at_max" && d.last_t > off.t)
    expect(atMaxOff.resource).toBe("full")

    // the documented shape, every reason from the closed set
    const all = await decisions("?limit=10000")
    for (const d of all) {
      expect(REASON_CODES).toContain(d.reason)
      expect(Object.keys(d).sort()).toEqual(
        ["t", "last_t", "repeats", "kind", "resource", "jobs", "jobs_total", "jobs_truncated", "reason", "message", "dry_run",
          ...("hosts" in d ? ["hosts"] : []), ...("count" in d ? ["count"] : []), ...("by" in d ? ["by"] : [])].sort()
      )
      expect(d.dry_run).toBe(false)
      expect(d.jobs.length).toBeLessThanOrEqual(20)
    }
    // since and limit
    const newest = all.at(-1)
    expect((await decisions(`?since=${newest.last_t}`)).every((d) => d.last_t >= newest.last_t)).toBe(true)
    expect(await decisions("?limit=1")).toHaveLength(1)
    expect(await decisions("?limit=0")).toEqual([])
    // metrics count refusals that name no resource with an empty resource label
    const metrics = await (await fetch(url + "/metrics")).text()
    expect(metrics).toMatch(/^dyncluster_decisions_total\{kind="refuse",reason="no_matching_resource",resource=""\} [1-9]/m)
    expect(metrics).toMatch(/^dyncluster_decisions_total\{kind="refuse",reason="auto_mode_off",resource=""\} [1-9]/m)
  }, 240_000)

  it("bad since or limit: a JSON 400 naming the parameter", async () => {
    for (const [q, name] of [["limit=10001", "limit"], ["limit=2.5", "limit"], ["limit=abc", "limit"], ["since=-1", "since"], ["since=soon", "since"], ["since=1&since=2", "since"]]) {
      const res = await fetch(`${url}/server/decisions?${q}`)
      expect(res.status, q).toBe(400)
      expect(res.headers.get("content-type"), q).toMatch(/^application\/json\b/)
      const body = (await res.json()) as any
      expect(Object.keys(body), q).toEqual(["error"])
      expect(body.error, q).toMatch(new RegExp(`^${name}: `))
    }
  })
})
