/**
 * Walks every endpoint and error code of the REST contract through the real
 * HTTP server (127.0.0.1, ephemeral port) against an in-memory engine that
 * applies the operator-action rules of SPEC §5.
 */
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Exit, Scope } from "effect"
import { countByState, DEFAULT_HISTORY_POINTS, HISTORY_STATES, makeNodeHistory } from "./history.ts"
import { type HttpAppOptions, listenHttp, makeHttpApp } from "./server.ts"
import { FAKE_SECRETS, FAKE_TIME, type FakeEngine, makeFakeEngine } from "./testing/fakeEngine.ts"
import { parseExposition, sampleValue } from "./testing/promFormat.ts"
import { seedExamples, shapeDiff } from "./testing/seedExamples.ts"
import { type RunningServer, startServer } from "./testing/serve.ts"
import { makeCycleHistogram } from "./metrics.ts"

const OPEN: HttpAppOptions = { token: null, tokenForReads: false }
const IDLE = "cw-vm-d05e.sa.nectar.org.au"
const BUSY = "cw-vm-d0eb.sa.nectar.org.au"
const HELD = "cw-vm-held.sa.nectar.org.au"
const STARTING = "ip-10-0-0-5.ec2.internal"
const ERROR = "ip-10-0-0-9.ec2.internal"
const PHYSICAL = "node01.hpc.example.org"

interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly body: any
}

const examples = seedExamples()
const example = (title: string): any => {
  const e = examples.get(title)
  if (e === undefined) throw new Error(`no example for ${title} in the seed`)
  return e
}

/** One request; every reply except the dashboard page and metrics text must be JSON. */
const call = async (
  server: RunningServer,
  method: string,
  path: string,
  init: { token?: string; headers?: Record<string, string>; body?: string } = {}
): Promise<Reply> => {
  const headers: Record<string, string> = { ...init.headers }
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`
  const res = await fetch(server.url + path, { method, headers, body: init.body })
  const text = await res.text()
  const contentType = res.headers.get("content-type") ?? ""
  const isPage = res.status === 200 && (path.startsWith("/dashboard") || path.startsWith("/metrics"))
  if (!isPage) {
    expect(contentType, `${method} ${path} content-type`).toMatch(/^application\/json\b/)
    if (method !== "HEAD") expect(() => JSON.parse(text), `${method} ${path} body is JSON`).not.toThrow()
  }
  let body: any = null
  try {
    body = text === "" ? null : JSON.parse(text)
  } catch {
    body = null
  }
  return { status: res.status, headers: res.headers, text, body }
}

const expectError = (r: Reply, status: number, mentions: ReadonlyArray<string | RegExp> = []) => {
  expect(r.status, r.text).toBe(status)
  expect(Object.keys(r.body)).toEqual(["error"])
  expect(typeof r.body.error).toBe("string")
  for (const m of mentions) expect(r.body.error).toMatch(m)
}

const expectSuccess = (r: Reply) => {
  expect(r.status, r.text).toBe(200)
  expect(r.body).toEqual({ success: true })
}

const withServer = async (
  f: (server: RunningServer, engine: FakeEngine) => Promise<void>,
  options: HttpAppOptions = OPEN
) => {
  const engine = makeFakeEngine()
  const server = await startServer(engine, options)
  try {
    await f(server, engine)
  } finally {
    await server.close()
  }
}

/** Polls f until it gives a value (the history sampler runs beside the requests). */
const until = async <A>(f: () => Promise<A | undefined>, ms = 10_000): Promise<A> => {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error("timed out")
    await new Promise((r) => setTimeout(r, 50))
  }
}

const nodeState = async (server: RunningServer, host: string): Promise<number> =>
  (await call(server, "GET", `/workernode/${host}`)).body.state

describe("read endpoints (shared server, no mutation)", () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer(makeFakeEngine(), OPEN)
  })
  afterAll(() => server.close())

  it("GET /workernode lists every node in the seed's shape", async () => {
    const r = await call(server, "GET", "/workernode")
    expect(r.status).toBe(200)
    expect(r.body).toHaveLength(6)
    expect(shapeDiff(r.body, example("GET /workernode"))).toEqual([])
    const idle = r.body.find((n: any) => n.hostname === IDLE)
    expect(idle.state).toBe(2)
    expect(idle.instance.state).toBe(4)
    expect(r.body.find((n: any) => n.hostname === PHYSICAL).instance).toBeNull()
  })

  it("GET /workernode?state=N keeps only nodes in state N, for every code 0..7", async () => {
    const all = (await call(server, "GET", "/workernode")).body as Array<any>
    for (let s = 0; s <= 7; s++) {
      const r = await call(server, "GET", `/workernode?state=${s}`)
      expect(r.status).toBe(200)
      expect(r.body.map((n: any) => n.hostname).sort()).toEqual(
        all.filter((n) => n.state === s).map((n) => n.hostname).sort()
      )
    }
    expect((await call(server, "GET", "/workernode?state=2")).body.map((n: any) => n.hostname)).toEqual([IDLE])
  })

  it.each(["-1", "8", "abc", "1.5", "", "1e1", "99999999999999999999", "2&state=3", "%202"])(
    "GET /workernode?state=%s is a 400 naming the parameter",
    async (v) => {
      expectError(await call(server, "GET", `/workernode?state=${v}`), 400, [/^state: /])
    }
  )

  it("GET /workernode/<hostname> returns one node (hostnames contain dots)", async () => {
    const r = await call(server, "GET", `/workernode/${IDLE}`)
    expect(r.status).toBe(200)
    expect(shapeDiff(r.body, example("GET /workernode")[0])).toEqual([])
    expect(r.body.hostname).toBe(IDLE)
    expect(r.body.time_in_current_state).toBe(600)
  })

  it("GET /workernode/<unknown> is a 404 naming the host", async () => {
    expectError(await call(server, "GET", "/workernode/no.such.host"), 404, [/no\.such\.host/])
  })

  it("GET /job lists queued jobs in the seed's shape", async () => {
    const r = await call(server, "GET", "/job")
    expect(r.status).toBe(200)
    expect(r.body.map((j: any) => j.jobid)).toEqual(["13", "15.headnode.example.org", "5[1]", "5[2].headnode"])
    expect(shapeDiff(r.body, example("GET /job"))).toEqual([])
    expect(typeof r.body[0].creation_time).toBe("string")
    // a job without a priority yet is -1, as the first version showed it (scripts test priority == -1)
    expect(r.body.find((j: any) => j.jobid === "5[2].headnode").priority).toBe(-1)
    expect((await call(server, "GET", "/job/5[2].headnode")).body.priority).toBe(-1)
  })

  it.each([
    ["13", "13"],
    ["15.headnode.example.org", "15.headnode.example.org"],
    ["5[1]", "5[1]"],
    ["5%5B1%5D", "5[1]"],
    ["5[2].headnode", "5[2].headnode"]
  ])("GET /job/%s finds job %s (ids with dots and brackets)", async (path, id) => {
    const r = await call(server, "GET", `/job/${path}`)
    expect(r.status, r.text).toBe(200)
    expect(r.body.jobid).toBe(id)
    expect(shapeDiff(r.body, example("GET /job")[0])).toEqual([])
  })

  it("GET /job/<unknown> is a 404 naming the id", async () => {
    expectError(await call(server, "GET", "/job/999.nowhere"), 404, [/999\.nowhere/])
    expectError(await call(server, "GET", "/job/a;b"), 404, [/a;b/])
  })

  it("GET /server/config is the config with every secret removed", async () => {
    const r = await call(server, "GET", "/server/config")
    expect(r.status).toBe(200)
    expect(Object.keys(r.body).sort()).toEqual(Object.keys(example("GET /server/config")).sort())
    expect(r.body.cloud["os-res"].config.username).toBe("blah")
    expect(r.body["dynamic-cluster"]["admin-server"].port).toBe(8001)
    for (const s of FAKE_SECRETS) expect(r.text).not.toContain(s)
    expect(r.text).not.toMatch(/"[^"]*(password|secret|token)[^"]*"\s*:/i)
  })

  it("GET /server/status has auto_mode and the cluster's health", async () => {
    const r = await call(server, "GET", "/server/status")
    expect(r.status).toBe(200)
    // the seed plus one additive field: dry_run (shadow mode, docs/daemon.md)
    expect(shapeDiff(r.body, { ...(example("GET /server/status") as object), dry_run: false })).toEqual([])
    expect(r.body).toEqual({ auto_mode: true, cluster: { torque: true, maui: true }, dry_run: false })
  })

  it("GET /server/queues shows the cloud task queues", async () => {
    const r = await call(server, "GET", "/server/queues")
    // with the first version's names too: tasks waiting for a worker, results not yet applied
    expect(r.body).toEqual({ waiting: 1, running: 2, results_pending: 0, tasks: 1, results: 0 })
  })

  it("GET /server/history: node and core counts by state over the engine's time; since; a bad since is a 400", async () => {
    const r = await until(async () => {
      const a = await call(server, "GET", "/server/history")
      return a.body.points.length > 0 ? a : undefined
    })
    expect(r.status).toBe(200)
    expect(Object.keys(r.body)).toEqual(["time", "states", "max_points", "points"])
    expect(r.body.states).toEqual(HISTORY_STATES)
    expect(r.body.max_points).toBe(DEFAULT_HISTORY_POINTS)
    // the fake engine's clock, and its nodes as GET /workernode lists them
    const nodes = (await call(server, "GET", "/workernode")).body
    expect(r.body.time).toBe(nodes[0].state_start_time + nodes[0].time_in_current_state)
    expect(r.body.points).toEqual([{ t: r.body.time, ...countByState(nodes) }])
    expect((await call(server, "GET", `/server/history?since=${r.body.time}`)).body.points).toHaveLength(1)
    expect((await call(server, "GET", `/server/history?since=${r.body.time + 0.5}`)).body.points).toEqual([])
    for (const bad of ["", "x", "-1", "1e9", "12abc", "Infinity"]) {
      expectError(await call(server, "GET", `/server/history?since=${bad}`), 400, [/^since: expected a time in seconds since the epoch/])
    }
    expectError(await call(server, "GET", "/server/history?since=1&since=2"), 400, [/^since: expected one value, got 2/])
    expect((await call(server, "GET", "/")).body.endpoints).toContain("GET /server/history[?since=T]")
  })

  it("GET /resource lists resources in the seed's shape, without secrets", async () => {
    const r = await call(server, "GET", "/resource")
    expect(r.status).toBe(200)
    expect(r.body.map((x: any) => x.name)).toEqual(["os-res", "aws-res"])
    expect(shapeDiff(r.body, example("GET /resource"))).toEqual([])
    const os = r.body[0]
    expect(os).toMatchObject({ current_num: 3, min_num: 1, max_num: 3, flag: 0, cores_per_node: 1 })
    expect(os.worker_nodes.map((n: any) => n.hostname).sort()).toEqual([BUSY, IDLE, HELD].sort())
    expect(os.config.username).toBe("blah")
    for (const s of FAKE_SECRETS) expect(r.text).not.toContain(s)
    expect(r.text).not.toMatch(/"[^"]*(password|secret|token)[^"]*"\s*:/i)
  })

  it("GET /resource/<name> returns one resource; unknown is a 404 naming it", async () => {
    const r = await call(server, "GET", "/resource/aws-res")
    expect(r.status).toBe(200)
    expect(shapeDiff(r.body, example("GET /resource")[0])).toEqual([])
    expect(r.body.reservation_queue).toBe("gpu")
    for (const s of FAKE_SECRETS) expect(r.text).not.toContain(s)
    expectError(await call(server, "GET", "/resource/nope"), 404, [/nope/])
  })

  it("unknown paths are a JSON 404", async () => {
    for (const p of ["/nope", "/workernode/a/b/c", "/server", "/server/other", "/resource/a/b/c", "/jobs"]) {
      expectError(await call(server, "GET", p), 404, [/no such endpoint/])
    }
  })

  it("a wrong method is a JSON 405 with an Allow header", async () => {
    const cases: Array<[string, string, string]> = [
      ["PUT", "/job", "GET, HEAD"],
      ["DELETE", "/job/13", "GET, HEAD"],
      ["POST", "/workernode", "GET, HEAD"],
      ["GET", `/workernode/${IDLE}/hold`, "PUT"],
      ["PUT", `/workernode/${IDLE}`, "GET, DELETE, HEAD"],
      ["GET", "/server/auto", "PUT, DELETE"],
      ["DELETE", "/resource/os-res", "GET, PUT, HEAD"],
      ["PATCH", "/server/status", "GET, HEAD"]
    ]
    for (const [m, p, allow] of cases) {
      const r = await call(server, m, p)
      expectError(r, 405, [new RegExp(m)])
      expect(r.headers.get("allow")).toBe(allow)
    }
  })

  it("HEAD answers like GET without a body", async () => {
    const r = await call(server, "HEAD", "/workernode")
    expect(r.status).toBe(200)
    expect(r.text).toBe("")
  })

  it("GET / lists the endpoints", async () => {
    const r = await call(server, "GET", "/")
    expect(r.status).toBe(200)
    expect(r.body.endpoints).toContain("PUT /resource/<name>/<freeze|restore|drain>")
  })

  it("an over-long request target is a JSON 414", async () => {
    expectError(await call(server, "GET", `/workernode/${"a".repeat(5000)}`), 414, [/too long/])
  })

  it("an over-large request body is a JSON 413", async () => {
    const r = await call(server, "PUT", "/server/auto", { body: "x".repeat(20_000) })
    expectError(r, 413, [/too large/])
  })

  it("requests Node cannot parse get a JSON 400 / 431 too", async () => {
    const raw = (head: string) =>
      new Promise<string>((resolve, reject) => {
        const { hostname, port } = new URL(server.url)
        const c = net.connect(Number(port), hostname, () => c.write(head + "\r\nHost: x\r\nConnection: close\r\n\r\n"))
        let data = ""
        c.on("data", (b) => (data += b))
        c.on("end", () => resolve(data))
        c.on("error", reject)
      })
    const bad = await raw("BREW /job HTTP/1.1")
    expect(bad).toMatch(/^HTTP\/1\.1 400 /)
    expect(bad).toMatch(/content-type: application\/json/i)
    expect(JSON.parse(bad.split("\r\n\r\n")[1]).error).toMatch(/malformed/)
    const huge = await raw(`GET /job/${"x".repeat(40_000)} HTTP/1.1`)
    expect(huge).toMatch(/^HTTP\/1\.1 431 /)
    expect(JSON.parse(huge.split("\r\n\r\n")[1]).error).toMatch(/too large/)
  })

  it("GET /metrics is valid exposition text built from the snapshot", async () => {
    const res = await fetch(server.url + "/metrics")
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
    const e = parseExposition(await res.text())
    expect(e.problems).toEqual([])
    expect(sampleValue(e, "dyncluster_nodes", { state: "idle", resource: "os-res" })).toBe(1)
    expect(sampleValue(e, "dyncluster_engine_cycle_seconds_count")).toBe(0)
  })

  it("GET /dashboard is an HTML page with a strict CSP and no external references", async () => {
    const res = await fetch(server.url + "/dashboard")
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8")
    const csp = res.headers.get("content-security-policy") ?? ""
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("connect-src 'self'")
    const html = await res.text()
    expect(html).toMatch(/^<!doctype html>/)
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//)
  })
})

describe("GET /server/history", () => {
  it("serves the newest max_points points, oldest first, and since selects the last ones", async () => {
    const history = makeNodeHistory(3)
    const t0 = FAKE_TIME - 600
    for (let t = 0; t < 10; t++) history.record(t0 + t * 60, { nodes: [t, 0, 0, 0, 0, 0, 0], cores: [4 * t, 0, 0, 0, 0, 0, 0] })
    await withServer(
      async (server) => {
        // the sampler adds the fake engine's own counts, at its clock (FAKE_TIME)
        const all = await until(async () => {
          const b = (await call(server, "GET", "/server/history")).body
          return b.time === FAKE_TIME ? b : undefined
        })
        expect(all.max_points).toBe(3)
        expect(all.points.map((p: any) => p.t)).toEqual([t0 + 480, t0 + 540, FAKE_TIME])
        expect(all.points[0]).toEqual({ t: t0 + 480, nodes: [8, 0, 0, 0, 0, 0, 0], cores: [32, 0, 0, 0, 0, 0, 0] })
        const recent = (await call(server, "GET", `/server/history?since=${t0 + 500}.25`)).body
        expect(recent.points.map((p: any) => p.t)).toEqual([t0 + 540, FAKE_TIME])
      },
      { ...OPEN, history }
    )
  })

  it("a server that keeps no history answers 404 in JSON", async () => {
    const scope = Effect.runSync(Scope.make())
    const { url } = await Effect.runPromise(listenHttp(makeHttpApp(makeFakeEngine(), OPEN), { host: "127.0.0.1", port: 0 }).pipe(Scope.extend(scope)))
    try {
      expectError(await call({ url, close: async () => {} }, "GET", "/server/history"), 404, [/keeps no history/])
      expectError(await call({ url, close: async () => {} }, "GET", "/server/history?since=x"), 400, [/^since: /])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})

describe("worker node actions (SPEC §5 rules through the HTTP status codes)", () => {
  it("hold: Idle or Busy → Holding; other states 400; unknown 404; physical 400", () =>
    withServer(async (s) => {
      expectSuccess(await call(s, "PUT", `/workernode/${IDLE}/hold`))
      expect(await nodeState(s, IDLE)).toBe(6)
      expectSuccess(await call(s, "PUT", `/workernode/${BUSY}/hold`))
      expect(await nodeState(s, BUSY)).toBe(6)
      expectError(await call(s, "PUT", `/workernode/${IDLE}/hold`), 400, [/Holding/])
      expectError(await call(s, "PUT", `/workernode/${STARTING}/hold`), 400, [/Starting/])
      expectError(await call(s, "PUT", `/workernode/${PHYSICAL}/hold`), 400, [/physical/])
      expectError(await call(s, "PUT", "/workernode/ghost.example/hold"), 404, [/ghost\.example/])
    }))

  it("unhold: Held → back online; others 400", () =>
    withServer(async (s) => {
      expectSuccess(await call(s, "PUT", `/workernode/${HELD}/unhold`))
      expect(await nodeState(s, HELD)).toBe(2)
      expectError(await call(s, "PUT", `/workernode/${IDLE}/unhold`), 400, [/Idle/])
      expectError(await call(s, "PUT", "/workernode/ghost.example/unhold"), 404)
    }))

  it("vacate: clears the node's jobs", () =>
    withServer(async (s) => {
      expectSuccess(await call(s, "PUT", `/workernode/${BUSY}/vacate`))
      const n = (await call(s, "GET", `/workernode/${BUSY}`)).body
      expect(n.jobs).toBeNull()
      expectError(await call(s, "PUT", "/workernode/ghost.example/vacate"), 404)
    }))

  it("an unsupported action is a 404 naming it (also for unknown hosts)", () =>
    withServer(async (s) => {
      expectError(await call(s, "PUT", `/workernode/${IDLE}/reboot`), 404, [/reboot/, /hold, unhold, vacate/])
      expectError(await call(s, "PUT", "/workernode/ghost.example/reboot"), 404)
    }))

  it("DELETE: Held, Starting, Error → Deleting; Busy, Idle 400; unknown 404", () =>
    withServer(async (s) => {
      for (const h of [HELD, STARTING, ERROR]) {
        expectSuccess(await call(s, "DELETE", `/workernode/${h}`))
        expect(await nodeState(s, h)).toBe(5)
      }
      expectError(await call(s, "DELETE", `/workernode/${BUSY}`), 400, [/jobs/])
      expectError(await call(s, "DELETE", `/workernode/${IDLE}`), 400, [/Idle/])
      expectError(await call(s, "DELETE", `/workernode/${PHYSICAL}`), 400)
      expectError(await call(s, "DELETE", "/workernode/ghost.example"), 404, [/ghost\.example/])
    }))

  it("engine failures: ActionError 500 passes its message, a defect becomes a generic 500", () =>
    withServer(async (s, engine) => {
      engine.failNext({ status: 500, message: "batch system unreachable: pbsnodes exited 1" })
      expectError(await call(s, "PUT", `/workernode/${IDLE}/hold`), 500, [/pbsnodes/])
      engine.failNext("defect")
      const r = await call(s, "PUT", `/workernode/${IDLE}/hold`)
      expectError(r, 500, [/internal error/])
      expect(r.text).not.toMatch(/injected defect|at .*\.ts/)
      expectSuccess(await call(s, "PUT", `/workernode/${IDLE}/hold`))
    }))
})

describe("server and resource actions", () => {
  it("PUT/DELETE /server/auto switch auto mode", () =>
    withServer(async (s) => {
      expectSuccess(await call(s, "DELETE", "/server/auto"))
      expect((await call(s, "GET", "/server/status")).body.auto_mode).toBe(false)
      expectSuccess(await call(s, "PUT", "/server/auto"))
      expect((await call(s, "GET", "/server/status")).body.auto_mode).toBe(true)
    }))

  it("PUT /resource/<res> launches one node by default, num nodes with ?num=N", () =>
    withServer(async (s, engine) => {
      expectSuccess(await call(s, "PUT", "/resource/aws-res"))
      expect((await call(s, "GET", "/resource/aws-res")).body.current_num).toBe(3)
      expect(engine.log).toContain("launch aws-res 1")
      expectError(await call(s, "PUT", "/resource/aws-res?num=2"), 400, [/3 \+ 2 exceeds its maximum of 4/])
      expectSuccess(await call(s, "PUT", "/resource/aws-res?num=1"))
      expect(engine.log).toContain("launch aws-res 1")
      expect((await call(s, "GET", "/workernode?state=1")).body).toHaveLength(3)
      expectSuccess(await call(s, "PUT", "/resource/os-res?num=0"))
      expect(engine.log).toContain("launch os-res 0")
    }))

  it("PUT /resource/<res>?num beyond max is a 400; unknown resource 404", () =>
    withServer(async (s) => {
      expectError(await call(s, "PUT", "/resource/os-res?num=1"), 400, [/maximum of 3/])
      expectError(await call(s, "PUT", "/resource/nope?num=1"), 404, [/nope/])
    }))

  it.each(["-1", "abc", "1.5", "", "0x2", "1e3", "2&num=3", "99999999999999999999"])(
    "PUT /resource/<res>?num=%s is a 400 naming the parameter",
    (v) =>
      withServer(async (s, engine) => {
        expectError(await call(s, "PUT", `/resource/aws-res?num=${v}`), 400, [/^num: /])
        expect(engine.log).toEqual([])
      })
  )

  it("freeze sets min = max = current (Frozen); restore puts the configured values back", () =>
    withServer(async (s) => {
      expectSuccess(await call(s, "PUT", "/resource/os-res/freeze"))
      expect((await call(s, "GET", "/resource/os-res")).body).toMatchObject({ flag: 1, min_num: 3, max_num: 3 })
      expectSuccess(await call(s, "PUT", "/resource/os-res/restore"))
      expect((await call(s, "GET", "/resource/os-res")).body).toMatchObject({ flag: 0, min_num: 1, max_num: 3 })
    }))

  it("drain sets min = max = 0 and holds Idle/Busy nodes (Draining)", () =>
    withServer(async (s) => {
      expectSuccess(await call(s, "PUT", "/resource/os-res/drain"))
      const r = (await call(s, "GET", "/resource/os-res")).body
      expect(r).toMatchObject({ flag: 2, min_num: 0, max_num: 0 })
      expect(await nodeState(s, IDLE)).toBe(6)
      expect(await nodeState(s, BUSY)).toBe(6)
    }))

  it("an unsupported resource action or unknown resource is a 404", () =>
    withServer(async (s) => {
      expectError(await call(s, "PUT", "/resource/os-res/explode"), 404, [/explode/, /freeze, restore, drain/])
      expectError(await call(s, "PUT", "/resource/nope/freeze"), 404, [/nope/])
    }))
})

describe("protection with a token", () => {
  const TOKEN = "s3cret-Token_value"

  it("PUT/DELETE need the bearer token (401 JSON otherwise); GETs stay open", () =>
    withServer(
      async (s, engine) => {
        for (const [m, p] of [
          ["PUT", `/workernode/${IDLE}/hold`],
          ["DELETE", `/workernode/${HELD}`],
          ["PUT", "/server/auto"],
          ["DELETE", "/server/auto"],
          ["PUT", "/resource/aws-res"],
          ["PUT", "/resource/os-res/drain"],
          ["PUT", "/nowhere"]
        ] as const) {
          const r = await call(s, m, p)
          expectError(r, 401, [/Authorization: Bearer/])
          expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/)
          expectError(await call(s, m, p, { token: "wrong" }), 401, [/invalid token/])
          expectError(await call(s, m, p, { headers: { authorization: TOKEN } }), 401)
          expectError(await call(s, m, p, { headers: { authorization: `Basic ${TOKEN}` } }), 401)
        }
        expect(engine.log).toEqual([])
        expect((await call(s, "GET", "/workernode")).status).toBe(200)
        expect((await call(s, "GET", "/metrics")).status).toBe(200)
        expectSuccess(await call(s, "PUT", `/workernode/${IDLE}/hold`, { token: TOKEN }))
        expectSuccess(await call(s, "PUT", "/server/auto", { headers: { authorization: `bearer ${TOKEN}` } }))
        expect(engine.log).toEqual([`hold ${IDLE}`, "auto true"])
      },
      { token: TOKEN, tokenForReads: false }
    ))

  it("tokenForReads protects GETs too, except the dashboard page itself", () =>
    withServer(
      async (s) => {
        for (const p of ["/workernode", "/job", "/resource", "/server/config", "/server/status", "/metrics"]) {
          expectError(await call(s, "GET", p), 401)
          expect((await call(s, "GET", p, { token: TOKEN })).status).toBe(200)
        }
        expect((await fetch(s.url + "/dashboard")).status).toBe(200)
      },
      { token: TOKEN, tokenForReads: true }
    ))

  it("the configured token never appears in /server/config", () =>
    withServer(
      async (s) => {
        const r = await call(s, "GET", "/server/config")
        expect(r.status).toBe(200)
        expect(r.text).not.toContain(TOKEN)
        expect(r.text).not.toContain(FAKE_SECRETS[2])
      },
      { token: TOKEN, tokenForReads: false }
    ))
})

describe("metrics options", () => {
  it("renders the cycle histogram passed to makeHttpApp", async () => {
    const h = makeCycleHistogram()
    h.observe(0.02)
    h.observe(3)
    await withServer(
      async (s) => {
        const e = parseExposition(await (await fetch(s.url + "/metrics")).text())
        expect(e.problems).toEqual([])
        expect(sampleValue(e, "dyncluster_engine_cycle_seconds_count")).toBe(2)
        expect(sampleValue(e, "dyncluster_engine_cycle_seconds_bucket", { le: "0.025" })).toBe(1)
      },
      { ...OPEN, cycleHistogram: h }
    )
  })
})
