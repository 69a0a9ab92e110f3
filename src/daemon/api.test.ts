/**
 * The REST API of the seed (../shared/seed/restapi.md) against the real
 * daemon: `node bin/dyncluster.js run --sim` on a small scenario, a free port,
 * a token from the environment. Walks every endpoint and error code, checks
 * each response's shape against the seed's examples and that no secret leaks
 * (API or logs), watches the cluster change, holds an idle node, and stops
 * the daemon with SIGTERM (exit 0).
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { NodeState } from "../model/types.ts"
import { parseExposition, sampleValue } from "../http/testing/promFormat.ts"
import { seedAvailable, seedExamples, seedPath, shapeDiff } from "../http/testing/seedExamples.ts"
import { startDyncluster, type Daemon } from "./testing/process.ts"

const SCENARIO = fileURLToPath(new URL("./fixtures/api.yaml", import.meta.url))
const TOKEN = "api-test-token-7f3a9c"
const SECRETS = ["os-pass-SECRET-1", "app-cred-SECRET-2", "aws-key-SECRET-3", "plugin-token-SECRET-4", TOKEN]
const PROMTOOL = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p))
const CI = process.env.CI === "true"

if (!seedAvailable()) console.warn(`SKIPPED daemon API suite: the seed contract ${seedPath} is missing`)

interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly body: any
}

describe.skipIf(!seedAvailable())("dyncluster run --sim: the REST API of the seed", () => {
  let daemon: Daemon
  let url = ""
  const examples = seedAvailable() ? seedExamples() : new Map<string, unknown>()
  const example = (title: string): any => {
    const e = examples.get(title)
    if (e === undefined) throw new Error(`no example for ${title} in the seed`)
    return e
  }
  const bodies: Array<string> = []

  const call = async (method: string, path: string, auth = false): Promise<Reply> => {
    const res = await fetch(url + path, { method, headers: auth ? { authorization: `Bearer ${TOKEN}` } : {} })
    const text = await res.text()
    bodies.push(text)
    if (!path.startsWith("/metrics") && !path.startsWith("/dashboard")) {
      expect(res.headers.get("content-type"), `${method} ${path}`).toMatch(/^application\/json\b/)
    }
    let body: any = null
    try {
      body = JSON.parse(text)
    } catch {
      /* the test decides */
    }
    return { status: res.status, headers: res.headers, text, body }
  }
  const ok = (r: Reply) => {
    expect(r.status, r.text).toBe(200)
    expect(r.body).toEqual({ success: true })
  }
  const error = (r: Reply, status: number, mention?: RegExp) => {
    expect(r.status, r.text).toBe(status)
    expect(Object.keys(r.body)).toEqual(["error"])
    if (mention !== undefined) expect(r.body.error).toMatch(mention)
  }
  const nodes = async (): Promise<Array<any>> => (await call("GET", "/workernode")).body
  const cloud = async () => (await nodes()).filter((n) => n.type !== "physical")
  const node = async (host: string) => (await call("GET", `/workernode/${host}`)).body
  const until = async <A>(what: string, f: () => Promise<A | undefined>, ms = 30_000): Promise<A> => {
    const end = Date.now() + ms
    for (;;) {
      const v = await f()
      if (v !== undefined) return v
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  beforeAll(async () => {
    daemon = startDyncluster(["run", "--sim", SCENARIO, "--speed", "50", "--port", "0", "--log-format", "json"], { DYNCLUSTER_TOKEN: TOKEN })
    const first = await daemon.waitForLine(() => true, 90_000)
    url = JSON.parse(first).url
  }, 100_000)

  afterAll(async () => {
    if (daemon !== undefined && daemon.child.exitCode === null) {
      daemon.kill("SIGKILL")
      await daemon.exited
    }
  })

  it("prints the dashboard's URL (and the port it chose) in its first line", () => {
    const first = JSON.parse(daemon.stdout[0])
    expect(first).toMatchObject({ level: "info", msg: expect.stringMatching(/^dashboard at http:\/\/127\.0\.0\.1:\d+\/dashboard/) })
    expect(first.url).toBe(`http://127.0.0.1:${first.port}`)
    expect(first.port).toBeGreaterThan(0)
  })

  it("GET /workernode lists cloud nodes in more than one state within a bounded time, in the seed's shape", async () => {
    const states = new Set<number>()
    await until("cloud nodes in two states", async () => {
      for (const n of await cloud()) states.add(n.state)
      return states.size >= 2 ? true : undefined
    })
    const all = await nodes()
    expect(shapeDiff(all, example("GET /workernode"))).toEqual([])
    expect(all.find((n) => n.hostname === "phys01")).toMatchObject({ type: "physical", instance: null })
    const c = all.find((n) => n.type !== "physical")
    expect(c.instance.cloud_resource).toMatch(/^(os|aws)$/)
  })

  it("GET /workernode?state=N filters; a bad state is a 400", async () => {
    for (let s = 0; s <= 7; s++) {
      const r = await call("GET", `/workernode?state=${s}`)
      expect(r.status).toBe(200)
      for (const n of r.body) expect(n.state).toBe(s)
    }
    for (const bad of ["8", "-1", "x", "1.5", ""]) error(await call("GET", `/workernode?state=${bad}`), 400, /^state: /)
  })

  it("GET /workernode/<hostname>: one node; unknown is a 404", async () => {
    const r = await call("GET", "/workernode/phys01")
    expect(r.status).toBe(200)
    expect(shapeDiff(r.body, example("GET /workernode")[0])).toEqual([])
    error(await call("GET", "/workernode/no.such.host"), 404, /no\.such\.host/)
  })

  it("GET /job and /job/<id> in the seed's shape; unknown id 404", async () => {
    const r = await call("GET", "/job")
    expect(r.status).toBe(200)
    expect(r.body.map((j: any) => j.jobid)).toContain("big.1")
    expect(shapeDiff(r.body, example("GET /job"))).toEqual([])
    const one = await call("GET", "/job/big.1")
    expect(one.status).toBe(200)
    expect(one.body).toMatchObject({ jobid: "big.1", state: 0, requested_cores: 64, cores_per_node: 2 })
    expect(shapeDiff(one.body, example("GET /job")[0])).toEqual([])
    error(await call("GET", "/job/999.nowhere"), 404, /999\.nowhere/)
  })

  it("GET /server/config, /server/status, /server/queues", async () => {
    const c = await call("GET", "/server/config")
    expect(c.status).toBe(200)
    // as written in the file (the first version's answer): the sections the file has, all of them the seed's
    expect(Object.keys(c.body).sort()).toEqual(["cloud", "cluster", "dynamic-cluster", "plugins"])
    for (const k of Object.keys(c.body)) expect(Object.keys(example("GET /server/config"))).toContain(k)
    expect(c.body.cloud.os.config.username).toBe("demo")
    expect(c.text).not.toMatch(/"[^"]*(password|secret|token)[^"]*"\s*:/i)
    // the effective configuration, defaults filled in: every section of the seed's example
    const e = await call("GET", "/server/config/effective")
    expect(e.status).toBe(200)
    expect(Object.keys(e.body).sort()).toEqual(Object.keys(example("GET /server/config")).sort())
    expect(e.text).not.toMatch(/"[^"]*(password|secret|token)[^"]*"\s*:/i)
    const s = await call("GET", "/server/status")
    // the seed plus one additive field: dry_run (shadow mode, docs/daemon.md)
    expect(shapeDiff(s.body, { ...(example("GET /server/status") as object), dry_run: false })).toEqual([])
    expect(s.body).toEqual({ auto_mode: true, cluster: { sim: true }, dry_run: false })
    const q = await call("GET", "/server/queues")
    expect(Object.keys(q.body).sort()).toEqual(["results", "results_pending", "running", "tasks", "waiting"])
  })

  it("GET /server/history: counts by state in simulated time, since, a bad since is a 400", async () => {
    const h = await until("a history with two points", async () => {
      const r = await call("GET", "/server/history")
      return r.body.points.length >= 2 ? r : undefined
    })
    expect(h.status).toBe(200)
    expect(h.body.states).toEqual(["Starting", "Idle", "Busy", "Error", "Deleting", "Holding", "Held"])
    const ts = h.body.points.map((p: any) => p.t)
    expect(ts).toEqual([...ts].sort((a, b) => a - b))
    for (const p of h.body.points) {
      expect(p.nodes).toHaveLength(7)
      expect(p.cores).toHaveLength(7)
    }
    // simulated time: at --speed 50 a real second moves it by about 50 s
    await new Promise((r) => setTimeout(r, 1000))
    const later = await call("GET", `/server/history?since=${h.body.time}`)
    expect(later.body.time - h.body.time).toBeGreaterThan(10)
    for (const p of later.body.points) expect(p.t).toBeGreaterThanOrEqual(h.body.time)
    // the physical node phys01 (Idle or Busy) is always counted
    const last = later.body.points.at(-1) ?? h.body.points.at(-1)
    expect(last.nodes[1] + last.nodes[2]).toBeGreaterThanOrEqual(1)
    error(await call("GET", "/server/history?since=yesterday"), 400, /^since: expected a time in seconds since the epoch/)
  })

  it("GET /server/decisions: provision decisions with reason codes, in simulated time; bad parameters are a 400", async () => {
    const r = await until("a provision decision", async () => {
      const r = await call("GET", "/server/decisions")
      return r.body.decisions.some((d: any) => d.kind === "provision") ? r : undefined
    })
    const p = r.body.decisions.find((d: any) => d.kind === "provision")
    expect(p).toMatchObject({ resource: expect.any(String), count: expect.any(Number), dry_run: false })
    expect(["queued_jobs", "below_min"]).toContain(p.reason)
    expect(p.message).toMatch(/node\(s\)/)
    // simulated time, near the history's
    const h = await call("GET", "/server/history")
    expect(Math.abs(p.t - h.body.points[0].t)).toBeLessThan(7 * 86400)
    const ts = r.body.decisions.map((d: any) => d.t)
    expect(ts).toEqual([...ts].sort((a, b) => a - b))
    error(await call("GET", "/server/decisions?limit=-1"), 400, /^limit: /)
    error(await call("GET", "/server/decisions?since=soon"), 400, /^since: /)
  })

  it("GET /resource and /resource/<name> in the seed's shape; unknown 404", async () => {
    const r = await call("GET", "/resource")
    expect(r.status).toBe(200)
    expect(r.body.map((x: any) => x.name)).toEqual(["os", "aws"])
    expect(shapeDiff(r.body, example("GET /resource"))).toEqual([])
    expect(r.body[1]).toMatchObject({ reservation_queue: "gpu", min_num: 0, max_num: 2, cores_per_node: 4 })
    const one = await call("GET", "/resource/os")
    expect(one.body).toMatchObject({ name: "os", min_num: 2, max_num: 4, flag: 0 })
    error(await call("GET", "/resource/nope"), 404, /nope/)
  })

  it("PUT and DELETE need the token (401 without it, JSON)", async () => {
    for (const [m, p] of [
      ["PUT", "/server/auto"],
      ["DELETE", "/server/auto"],
      ["PUT", "/workernode/phys01/hold"],
      ["DELETE", "/workernode/phys01"],
      ["PUT", "/resource/os"],
      ["PUT", "/resource/os/freeze"]
    ] as const) {
      const r = await call(m, p)
      error(r, 401, /Authorization: Bearer/)
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/)
    }
  })

  it("PUT/DELETE /server/auto switch auto mode", async () => {
    ok(await call("DELETE", "/server/auto", true))
    expect((await call("GET", "/server/status")).body.auto_mode).toBe(false)
    ok(await call("PUT", "/server/auto", true))
    expect((await call("GET", "/server/status")).body.auto_mode).toBe(true)
    // the rest runs by hand: Held nodes stay Held
    ok(await call("DELETE", "/server/auto", true))
  })

  let held = ""
  it("PUT hold on an idle node moves it to Holding/Held; unhold brings it back", async () => {
    const idle = await until("an idle cloud node", async () => (await cloud()).find((n) => n.state === NodeState.Idle))
    held = idle.hostname
    ok(await call("PUT", `/workernode/${held}/hold`, true))
    expect([NodeState.Holding, NodeState.Held]).toContain((await node(held)).state)
    await until("Held", async () => ((await node(held)).state === NodeState.Held ? true : undefined))
    error(await call("PUT", `/workernode/${held}/hold`, true), 400, /Held/)
    ok(await call("PUT", `/workernode/${held}/unhold`, true))
    expect([NodeState.Idle, NodeState.Busy]).toContain((await node(held)).state)
    error(await call("PUT", `/workernode/${held}/unhold`, true), 400, /only Held/)
    ok(await call("PUT", `/workernode/${held}/hold`, true))
    await until("Held again", async () => ((await node(held)).state === NodeState.Held ? true : undefined))
  })

  it("worker node actions: unsupported 404, unknown host 404, physical 400, vacate 200", async () => {
    error(await call("PUT", `/workernode/${held}/reboot`, true), 404, /reboot/)
    error(await call("PUT", "/workernode/ghost.example/hold", true), 404, /ghost\.example/)
    error(await call("PUT", "/workernode/ghost.example/vacate", true), 404)
    error(await call("PUT", "/workernode/phys01/hold", true), 400, /physical/)
    ok(await call("PUT", `/workernode/${held}/vacate`, true))
  })

  it("DELETE /workernode/<host>: Idle 400, Held 200 → Deleting, unknown 404", async () => {
    const idle = await until("another idle node", async () => (await cloud()).find((n) => n.state === NodeState.Idle && n.hostname !== held))
    error(await call("DELETE", `/workernode/${idle.hostname}`, true), 400, /Idle/)
    ok(await call("DELETE", `/workernode/${held}`, true))
    const after = (await nodes()).find((n) => n.hostname === held)
    if (after !== undefined) expect(after.state).toBe(NodeState.Deleting)
    error(await call("DELETE", "/workernode/ghost.example", true), 404)
    error(await call("DELETE", "/workernode/phys01", true), 400)
  })

  it("PUT /resource/<res>[?num=N]: launches within max; beyond max 400; bad num 400; unknown 404", async () => {
    const before = (await call("GET", "/resource/aws")).body.current_num
    error(await call("PUT", "/resource/aws?num=3", true), 400, /max/)
    for (const bad of ["-1", "x", "1.5", ""]) error(await call("PUT", `/resource/aws?num=${bad}`, true), 400, /^num: /)
    ok(await call("PUT", "/resource/aws?num=1", true))
    await until("the new aws node", async () => ((await call("GET", "/resource/aws")).body.current_num > before ? true : undefined))
    error(await call("PUT", "/resource/nope?num=1", true), 404, /nope/)
  })

  it("PUT /resource/<res>/<freeze|restore|drain>; unsupported action or unknown resource 404", async () => {
    ok(await call("PUT", "/resource/os/freeze", true))
    const f = (await call("GET", "/resource/os")).body
    expect(f.flag).toBe(1)
    expect(f.min_num).toBe(f.max_num)
    ok(await call("PUT", "/resource/os/restore", true))
    expect((await call("GET", "/resource/os")).body).toMatchObject({ flag: 0, min_num: 2, max_num: 4 })
    ok(await call("PUT", "/resource/aws/drain", true))
    expect([2, 3]).toContain((await call("GET", "/resource/aws")).body.flag)
    error(await call("PUT", "/resource/os/explode", true), 404, /explode/)
    error(await call("PUT", "/resource/nope/freeze", true), 404, /nope/)
  })

  it("GET /metrics is valid exposition text (promtool too, when installed)", async () => {
    const res = await fetch(url + "/metrics")
    const text = await res.text()
    bodies.push(text)
    const e = parseExposition(text)
    expect(e.problems).toEqual([])
    const physical = ["idle", "busy"].map((state) => sampleValue(e, "dyncluster_nodes", { state, resource: "physical" }) ?? 0)
    expect(physical[0] + physical[1]).toBe(1)
    expect(sampleValue(e, "dyncluster_engine_cycle_seconds_count")).toBeGreaterThan(0)
    expect(sampleValue(e, "dyncluster_policy_info", { policy: "classic" })).toBe(1)
    expect(e.problems).toEqual([])
    expect(text).toMatch(/^dyncluster_decisions_total\{kind="provision",reason="(queued_jobs|below_min)",resource="\w+"\} [1-9]/m)
    if (PROMTOOL === undefined) {
      if (CI) throw new Error("promtool is missing (Debian package prometheus)")
      console.warn("SKIPPED promtool check: promtool is not installed")
      return
    }
    expect(() => execFileSync(PROMTOOL, ["check", "metrics"], { input: text })).not.toThrow()
  })

  it("GET /dashboard and GET / answer", async () => {
    const d = await fetch(url + "/dashboard")
    expect(d.status).toBe(200)
    expect(d.headers.get("content-type")).toMatch(/^text\/html/)
    const root = await call("GET", "/")
    expect(root.body.endpoints).toContain("GET /server/queues")
    error(await call("GET", "/nope"), 404, /no such endpoint/)
  })

  it("no secret ever appears in a response or in the log", () => {
    const all = bodies.join("\n")
    for (const s of SECRETS) expect(all).not.toContain(s)
    const log = [...daemon.stdout, ...daemon.stderr].join("\n")
    for (const s of SECRETS) expect(log).not.toContain(s)
  })

  it("SIGTERM: a last line, HTTP closed, exit code 0 within a few seconds", async () => {
    const t0 = Date.now()
    daemon.kill("SIGTERM")
    const { code, signal } = await daemon.exited
    expect({ code, signal }).toEqual({ code: 0, signal: null })
    expect(Date.now() - t0).toBeLessThan(10_000)
    const last = daemon.stdout.map((l) => JSON.parse(l))
    expect(last.map((l) => l.msg)).toContain("HTTP server closed")
    expect(last[last.length - 1].msg).toBe("dyncluster stopped on SIGTERM")
    expect(daemon.stderr.join("\n")).toBe("")
    await expect(fetch(url + "/workernode")).rejects.toThrow()
  })
})
