/**
 * The cached listings (bodyCache.ts) must be byte for byte what encoding a
 * fresh snapshot gives: templates against JSON.stringify on arbitrary nodes,
 * then the real HTTP server on a real engine in a simulated world, with and
 * without the cache, across engine steps, fractional times and second
 * boundaries, and operator actions seen by the very next GET. A body may be
 * served for one quantum (LISTING_QUANTUM_SECONDS) after it was rendered:
 * every answer must then be a fresh encoding at an instant of the same
 * engine version less than the quantum before the request.
 */
import * as Http from "node:http"
import * as net from "node:net"
import { gunzipSync } from "node:zlib"
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, ManagedRuntime, TestClock, TestContext } from "effect"
import * as fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { observedApi } from "../daemon/daemon.ts"
import { type EngineApi, timeInState, withStamp } from "../engine/api.ts"
import { NodeState, ResourceFlag, type WorkerNode } from "../model/types.ts"
import { kitScenario } from "../sim/kit.ts"
import { SimDriver } from "../sim/run.ts"
import { copyData, identityOpener, LISTING_QUANTUM_SECONDS, makeBodyCache, makeCoalescer, makeTemplate, makeTemplateEffect, renderTemplate, renderTemplateBytes, sameJsonText, toBytesTemplate } from "./bodyCache.ts"
import { acceptsGzip, GZIP_MIN_BYTES } from "./server.ts"
import { makeFakeEngine } from "./testing/fakeEngine.ts"
import { raw } from "./testing/raw.ts"
import { type RunningServer, startServer } from "./testing/serve.ts"

const node = (hostname: string, start: number, extra: Partial<WorkerNode> = {}): WorkerNode => ({
  hostname,
  type: "cloud",
  state: NodeState.Idle,
  jobs: null,
  num_proc: 4,
  time_in_current_state: 0,
  state_start_time: start,
  instance: null,
  extra_attributes: null,
  ...extra
})

describe("body templates", () => {
  it("render exactly what JSON.stringify gives, at any time, whatever the strings", () => {
    const text = fc.oneof(fc.string(), fc.constantFrom("\u0001dyncluster-time-0-0\u0001", '"\\u0001', "time_in_current_state", "\u0000\n\"\\"))
    fc.assert(
      fc.property(
        fc.array(fc.record({ host: text, start: fc.double({ min: 0, max: 2e9, noNaN: true }), extra: text }), { maxLength: 8 }),
        fc.double({ min: 0, max: 2e9, noNaN: true }),
        (specs, now) => {
          const nodes = specs.map((s) => node(s.host, s.start, { extra_attributes: { note: s.extra } as never }))
          const t = makeTemplate((open) => ({ worker_nodes: nodes.map(open), n: nodes.length }))
          expect(t).not.toBeNull()
          const fresh = { worker_nodes: nodes.map((n) => ({ ...n, time_in_current_state: Math.max(0, now - n.state_start_time) })), n: nodes.length }
          expect(renderTemplate(t!, now)).toBe(JSON.stringify(fresh) + "\n")
          // The bytes the server sends: the same text as UTF-8, not a byte more or less.
          expect(renderTemplateBytes(toBytesTemplate(t!), now).equals(Buffer.from(JSON.stringify(fresh) + "\n", "utf8"))).toBe(true)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("encoded a chunk at a time (makeTemplateEffect): the same template as in one piece, with a pause between chunks", () => {
    const text = fc.oneof(fc.string(), fc.constantFrom("\u0001dyncluster-time-0-0\u0001", '"\\u0001', "time_in_current_state", "\u0000\n\"\\"))
    fc.assert(
      fc.property(
        fc.array(fc.record({ host: text, start: fc.double({ min: 0, max: 2e9, noNaN: true }), open: fc.boolean() }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.double({ min: 0, max: 2e9, noNaN: true }),
        (specs, chunk, now) => {
          const value = (open: (n: WorkerNode) => unknown) => specs.map((s) => (s.open ? open(node(s.host, s.start)) : { job: s.host }))
          let pauses = 0
          const pause = Effect.sync(() => void pauses++)
          const chunked = Effect.runSync(makeTemplateEffect(value, pause, chunk))
          expect(chunked).toEqual(makeTemplate(value))
          expect(pauses).toBe(specs.length > chunk ? Math.ceil(specs.length / chunk) - 1 : 0)
          const fresh = specs.map((s) => (s.open ? { ...node(s.host, s.start), time_in_current_state: Math.max(0, now - s.start) } : { job: s.host }))
          expect(renderTemplate(chunked!, now)).toBe(JSON.stringify(fresh) + "\n")
        }
      ),
      { numRuns: 300 }
    )
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(Effect.runSync(makeTemplateEffect((open) => [open(node("a", 1)), open(node("b", 2)), cyclic], Effect.void, 1))).toBeNull()
  })

  it("gives up (null) when the value cannot be encoded, instead of caching something else", () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(makeTemplate(() => cyclic)).toBeNull()
    expect(makeTemplate((open) => [open(node("a", 1)), cyclic])).toBeNull()
    // a node opened but dropped from the value: its slot never shows up
    expect(makeTemplate((open) => (open(node("a", 1)), []))).toBeNull()
    expect(makeTemplate((open) => [open(node("a", 1))])).not.toBeNull()
    expect(identityOpener(node("a", 1))).toEqual(node("a", 1))
  })
})

/** N keep-alive connections, all connected before `request(i)` is written on each in one go; one reply per connection. */
const burst = async (base: string, n: number, request: (i: number) => string) => {
  const { hostname, port } = new URL(base)
  const sockets = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(Number(port), hostname, () => resolve(s))
      s.on("error", reject)
    }))
  )
  const replies = sockets.map((s) => new Promise<{ status: number; headers: Http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    let data = Buffer.alloc(0)
    s.on("data", (c: Buffer) => {
      data = Buffer.concat([data, c])
      const end = data.indexOf("\r\n\r\n")
      if (end === -1) return
      const [statusLine, ...lines] = data.subarray(0, end).toString("latin1").split("\r\n")
      const headers: Record<string, string> = {}
      for (const l of lines) headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim()
      const length = Number(headers["content-length"])
      if (data.length >= end + 4 + length) {
        s.destroy()
        resolve({ status: Number(statusLine.split(" ")[1]), headers, body: data.subarray(end + 4, end + 4 + length) })
      }
    })
    s.on("error", reject)
  }))
  sockets.forEach((s, i) => s.write(request(i)))
  return Promise.all(replies)
}

describe("gzip bodies", () => {
  it("reuse one buffer per listing only once its gzip is done, and never send it as identity", async () => {
    const nodes = Array.from({ length: 50 }, (_, i) => node(`n${i}.example.org`, 1_700_000_000 + i * 0.37, { extra_attributes: { note: "é\u2028" } as never }))
    const fresh = (t: number) => Buffer.from(JSON.stringify(nodes.map((n) => ({ ...n, time_in_current_state: timeInState(t, n.state_start_time) }))) + "\n")
    const template = makeTemplate((open) => nodes.map(open))!
    // Renderings 0.75 s or more apart: each one a new body.
    const cache = makeBodyCache({ quantum: 0.5 })
    const r1 = cache.put("/workernode", 7, template, 1_700_000_100.5, true)
    expect(r1.shareable).toBe(false)
    expect(cache.peek("/workernode", 7, 1_700_000_100.5), "lent bytes are not an identity body").toBeUndefined()
    expect(cache.peek("/workernode", 7, 1_700_000_100.5, true)).toBe(r1)
    const g1 = await r1.gzip()
    expect(gunzipSync(g1).equals(fresh(1_700_000_100.5))).toBe(true)
    // Its gzip is done: the next rendering reuses the buffer, and the first gzip is unaffected.
    const r2 = cache.get("/workernode", 7, 1_700_000_101.25, true)!
    expect(r2.body.buffer).toBe(r1.body.buffer)
    // Rendered while r2's gzip runs: a buffer of its own.
    const r3 = cache.get("/workernode", 7, 1_700_000_102.125, true)!
    expect(r3.body.buffer).not.toBe(r2.body.buffer)
    const [g2, g3] = await Promise.all([r2.gzip(), r3.gzip()])
    expect(gunzipSync(g1).equals(fresh(1_700_000_100.5))).toBe(true)
    expect(gunzipSync(g2).equals(fresh(1_700_000_101.25))).toBe(true)
    expect(gunzipSync(g3).equals(fresh(1_700_000_102.125))).toBe(true)
    // An identity request at r3's instant gets a body of its own, the same bytes.
    const plain = cache.get("/workernode", 7, 1_700_000_102.125)!
    expect(plain.shareable).toBe(true)
    expect(plain.body.equals(fresh(1_700_000_102.125))).toBe(true)
    expect(cache.stats().gzips).toBe(3)
  })
})

describe("time quantum", () => {
  const nodes = Array.from({ length: 40 }, (_, i) => node(`q${i}.example.org`, 1_700_000_000 + i * 0.113))
  const fresh = (t: number) => Buffer.from(JSON.stringify(nodes.map((n) => ({ ...n, time_in_current_state: timeInState(t, n.state_start_time) }))) + "\n")
  const template = makeTemplate((open) => nodes.map(open))!

  it("serves a body for less than the quantum after its instant, for the same version only", async () => {
    const Q = 0.25
    const cache = makeBodyCache({ quantum: Q })
    const t0 = 1_700_000_100.5
    for (const gzip of [false, true]) {
      const r0 = cache.put("/w", 3, template, t0, gzip)
      expect(r0.time).toBe(t0)
      expect(cache.get("/w", 3, t0 + Q / 2, gzip), "within the quantum").toBe(r0)
      expect(cache.get("/w", 3, t0 + Q * 0.999, gzip), "within the quantum").toBe(r0)
      const r1 = cache.get("/w", 3, t0 + Q, gzip)!
      expect(r1, "a quantum old: rendered anew").not.toBe(r0)
      expect(r1.time).toBe(t0 + Q)
      expect(gzip ? gunzipSync(await r1.gzip()).equals(fresh(t0 + Q)) : r1.body.equals(fresh(t0 + Q))).toBe(true)
      expect(cache.peek("/w", 4, t0 + Q, gzip), "another version").toBeUndefined()
      expect(cache.get("/w", 4, t0 + Q, gzip), "another version: no template for it").toBeUndefined()
      expect(cache.get("/w", 3, t0 + Q - 0.1, gzip), "a clock gone back: rendered at its own instant").not.toBe(r1)
      await Promise.all([r0.gzip(), r1.gzip()])
    }
    expect(() => makeBodyCache({ quantum: -1 })).toThrow(/quantum/)
    expect(() => makeBodyCache({ quantum: NaN })).toThrow(/quantum/)
  })

  it("never gives identity clients a body lent for gzip, and gives gzip clients an identity body of the quantum", async () => {
    const cache = makeBodyCache({ quantum: 1 })
    const t0 = 1_700_000_200
    const g = cache.put("/w", 5, template, t0, true)
    expect(g.shareable).toBe(false)
    const p = cache.get("/w", 5, t0 + 0.5)!
    expect(p).not.toBe(g)
    expect(p.body.equals(fresh(t0 + 0.5))).toBe(true)
    await g.gzip()
    // The gzip body of t0 is still within its quantum at t0 + 0.9: preferred (its gzip is done).
    expect(cache.get("/w", 5, t0 + 0.9, true)).toBe(g)
    // At t0 + 1.2 only the identity body of t0 + 0.5 is within the quantum.
    expect(cache.get("/w", 5, t0 + 1.2, true)).toBe(p)
    expect(cache.quantum).toBe(1)
    expect(makeBodyCache().quantum).toBe(LISTING_QUANTUM_SECONDS)
  })
})

describe("Accept-Encoding", () => {
  it("allows gzip only when listed (or *) with a q-value above 0", () => {
    for (const yes of ["gzip", "GZIP", "x-gzip", "gzip, deflate, br", "deflate, gzip;q=0.5", "*", "br, *;q=0.1", " gzip ; q=1.0 ", "gzip;q=0.001", "gzip;q=1"]) {
      expect(acceptsGzip(yes), yes).toBe(true)
    }
    for (const no of [undefined, "", "identity", "br", "deflate, br", "gzip;q=0", "gzip;q=0.0", "*;q=0", "gzip;q=0, *", "gzipx", "gzip;q=abc", "gzip;q=2", "gzip;q=0.0001", "gzip;q="]) {
      expect(acceptsGzip(no), String(no)).toBe(false)
    }
  })
})

describe("coalescer", () => {
  it("gives every caller that joins before the work starts the same result, and none after", async () => {
    const c = makeCoalescer<number>()
    let runs = 0
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        expect(c.join("a")).toBeUndefined()
        const work = Effect.gen(function* () {
          runs++
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(release)
          return 42 + runs
        })
        const leader = yield* Effect.fork(c.lead("a", Deferred.await(gate), work))
        yield* Effect.yieldNow()
        const followers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(c.join("a")!))
        expect(c.join("b"), "another slot has nothing pending").toBeUndefined()
        yield* Deferred.succeed(gate, undefined)
        yield* Deferred.await(started)
        // The work started: a caller now must not get its (older) result.
        expect(c.join("a")).toBeUndefined()
        yield* Deferred.succeed(release, undefined)
        const all = [yield* Fiber.join(leader), ...(yield* Effect.forEach(followers, Fiber.join))]
        return all
      })
    )
    expect(runs).toBe(1)
    expect(result).toEqual([43, 43, 43, 43])
  })

  it("hands a failure to everyone who joined, and the leader's interruption does not strand them", async () => {
    const c = makeCoalescer<number>()
    const exits = await Effect.runPromise(
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const leader = yield* Effect.fork(c.lead("a", Deferred.await(gate), Effect.die("boom")))
        yield* Effect.yieldNow()
        const follower = yield* Effect.fork(c.join("a")!)
        const interrupting = yield* Effect.fork(Fiber.interrupt(leader))
        yield* Effect.yieldNow()
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(interrupting)
        return [yield* Fiber.await(leader), yield* Fiber.await(follower)]
      })
    )
    for (const e of exits) expect(Exit.isFailure(e) && Cause.isDie(e.cause), String(e)).toBe(true)
  })
})

describe("coalesced rendering on a moving clock", () => {
  it("answers concurrent requests with fewer renderings, each exactly a fresh encoding at an instant of its request", async () => {
    const fake = makeFakeEngine()
    let now = 1_700_000_000.001
    // Every stamp or snapshot reads a later clock: no two requests ever share an instant.
    const tick = () => (now = Math.round((now + 0.007) * 1000) / 1000)
    const moving: EngineApi = withStamp(
      {
        ...fake,
        snapshot: Effect.map(fake.snapshot, (s) => {
          const t = tick()
          return { ...s, time: t, nodes: s.nodes.map((n) => ({ ...n, time_in_current_state: timeInState(t, n.state_start_time) })) }
        })
      },
      Effect.sync(() => ({ version: 1, time: tick() }))
    )
    const cache = makeBodyCache()
    const server = await startServer(moving, { token: null, tokenForReads: false, bodyCache: cache })
    try {
      // Counted from here: the first GET's body may still be within its quantum during the burst.
      const before = cache.stats().renders
      const nodes = JSON.parse((await raw(server.url, "/workernode")).body.toString("utf8")) as Array<WorkerNode>
      expect(nodes.length).toBeGreaterThan(2)
      const freshAt = (t: number) => JSON.stringify(nodes.map((n) => ({ ...n, time_in_current_state: timeInState(t, n.state_start_time) }))) + "\n"
      const burstStart = now
      const N = 40
      // Connections open first, then every request written in the same tick: they reach the server together.
      const replies = await burst(server.url, N, (i) => `GET /workernode HTTP/1.1\r\nHost: test\r\n${i % 2 === 0 ? "Accept-Encoding: gzip\r\n" : ""}\r\n`)
      const instants = new Set<number>()
      for (const r of replies) {
        const text = (r.headers["content-encoding"] === "gzip" ? gunzipSync(r.body) : r.body).toString("utf8")
        const first = (JSON.parse(text) as Array<WorkerNode>)[0]
        const t = first.state_start_time + first.time_in_current_state
        // The instant the body shows, recovered up to float rounding, then matched byte for byte.
        const at = [...new Set([t, Math.round(t * 1000) / 1000])].find((x) => freshAt(x) === text)
        expect(at, "a body no fresh encoding gives").toBeDefined()
        // Rendered at most a quantum before the first request of the burst arrived (and not after the last answer).
        expect(at!).toBeGreaterThan(burstStart - LISTING_QUANTUM_SECONDS)
        expect(at!).toBeLessThanOrEqual(now)
        instants.add(at!)
      }
      // Requests share renderings only when they arrive together, which the test cannot force: at most one each.
      const renders = cache.stats().renders - before
      expect(renders).toBeGreaterThan(0)
      expect(renders).toBeLessThanOrEqual(N + 1)
      expect(instants.size).toBeLessThanOrEqual(renders)
    } finally {
      await server.close()
    }
  })
})

describe("bodies on the engine's Clock (TestClock)", () => {
  it("are never older than the quantum, and show a state change in the very next GET", async () => {
    const rt = ManagedRuntime.make(TestContext.TestContext)
    const clock = await rt.runPromise(TestClock.testClock())
    await rt.runPromise(clock.setTime(1_700_000_000_250))
    const fake = makeFakeEngine()
    let version = 1
    const onClock = <A, E>(eff: Effect.Effect<A, E>) => Effect.withClock(eff, clock)
    const seconds = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)
    // Time only from the Clock, as the engine's snapshot and stamp; every operator action is a new version.
    const engine: EngineApi = withStamp(
      {
        ...fake,
        snapshot: onClock(
          Effect.zipWith(fake.snapshot, seconds, (s, t) => ({ ...s, time: t, nodes: s.nodes.map((n) => ({ ...n, time_in_current_state: timeInState(t, n.state_start_time) })) }))
        ),
        hold: (h) => Effect.ensuring(fake.hold(h), Effect.sync(() => void version++))
      },
      onClock(Effect.map(seconds, (time) => ({ version, time })))
    )
    const cache = makeBodyCache()
    const Q = cache.quantum
    const server = await startServer(engine, { token: null, tokenForReads: false, bodyCache: cache })
    try {
      const nowS = () => Effect.runSync(onClock(seconds))
      const advance = (ms: number) => rt.runPromise(clock.adjust(Duration.millis(ms)))
      const nodes = fake.nodes.map((n) => ({ ...n }))
      const freshAt = (t: number, list: ReadonlyArray<WorkerNode> = nodes) =>
        JSON.stringify(list.map((n) => ({ ...n, time_in_current_state: timeInState(t, n.state_start_time) }))) + "\n"
      const both = async () => {
        const plain = await raw(server.url, "/workernode")
        const gz = await raw(server.url, "/workernode", { "accept-encoding": "gzip" })
        expect(gz.headers["content-encoding"]).toBe("gzip")
        return [plain.body.toString("utf8"), gunzipSync(gz.body).toString("utf8")]
      }
      // Instants of the requests so far: a body must be a fresh encoding at one of them, less than Q before now.
      const asked: Array<number> = []
      const check = (bodies: ReadonlyArray<string>) => {
        const now = nowS()
        for (const body of bodies) {
          const at = asked.find((t) => t > now - Q && t <= now && freshAt(t) === body)
          expect(at, `a body at ${now}: no fresh encoding of the last ${Q} s gives it`).toBeDefined()
        }
      }
      const t0 = nowS()
      asked.push(t0)
      const first = await both()
      expect(first).toEqual([freshAt(t0), freshAt(t0)])
      const renders = cache.stats().renders
      // Within the quantum: the same bodies (those of t0), no rendering.
      await advance(Q * 500)
      asked.push(nowS())
      expect(await both()).toEqual(first)
      await advance(Q * 500 - 1)
      asked.push(nowS())
      expect(await both()).toEqual(first)
      expect(cache.stats().renders).toBe(renders)
      // A quantum after t0: rendered anew, at this instant.
      await advance(1)
      expect(nowS()).toBeCloseTo(t0 + Q, 6)
      asked.push(nowS())
      const second = await both()
      expect(second).toEqual([freshAt(nowS()), freshAt(nowS())])
      // Steps of 0 to 2 quanta: every answer within the bound.
      for (const ms of [0, 1, 37, 113, 249, 250, 251, 499, 3, 500, 999, 1, 1, 1, 1000, 7, 600, 2, 2]) {
        await advance(ms * Q * 4)
        asked.push(nowS())
        check(await both())
      }
      // An operator action within the quantum: the very next GET shows it (identity and gzip), at the instant it asks.
      await advance(1)
      asked.push(nowS())
      check(await both())
      const target = fake.nodes.find((n) => n.state === NodeState.Idle || n.state === NodeState.Busy)
      expect(target, "a node to hold").toBeDefined()
      const hold = await raw(server.url, `/workernode/${target!.hostname}/hold`, {}, "PUT")
      expect(hold.status, hold.body.toString()).toBe(200)
      const held = fake.nodes.map((n) => ({ ...n }))
      expect(held.find((n) => n.hostname === target!.hostname)!.state).toBe(NodeState.Holding)
      const after = await both()
      expect(after).toEqual([freshAt(nowS(), held), freshAt(nowS(), held)])
    } finally {
      await server.close()
      await rt.dispose()
    }
  })
})

const EPOCH = 1_700_000_000.25

describe("GET listings through the cache on a real engine", () => {
  const driver = new SimDriver(
    {
      ...kitScenario({
        resources: [
          { name: "os", min: 2, max: 4, cores: 2, bootTime: { type: "constant", value: 20 }, configTime: { type: "constant", value: 5 } },
          { name: "aws", min: 0, max: 3, cores: 4, reservation: { queue: "gpu" } }
        ],
        physical: [{ hostname: "phys1", cores: 2 }],
        jobs: [
          ...Array.from({ length: 12 }, (_, i) => ({ submit: 5 + i * 7, runtime: 40 + i * 13, cores: 1 + (i % 2), priority: i % 3 })),
          { submit: 30, runtime: 600, cores: 4, queue: "gpu" },
          { submit: 1, runtime: 60, cores: 64 }
        ],
        settings: { cluster_poller_interval: 3, cloud_poller_interval: 4, auto_provision_interval: 5, max_idle_time: 60 },
        schedulerCycle: 3,
        apiLatency: 0.4
      }),
      epoch: EPOCH
    },
    { seed: 3, collect: false },
    () => {}
  )
  const api = observedApi(
    () => driver.engine.api,
    () => driver.requestStep(),
    (eff) => driver.atWorldTime(eff)
  )
  const { stamp: _stamp, ...plain } = api
  const uncachedApi: EngineApi = plain
  const cache = makeBodyCache()
  let cached: RunningServer
  let uncached: RunningServer

  beforeAll(async () => {
    cached = await startServer(api, { token: null, tokenForReads: false, bodyCache: cache })
    uncached = await startServer(uncachedApi, { token: null, tokenForReads: false })
  })
  afterAll(async () => {
    await cached?.close()
    await uncached?.close()
  })

  const PATHS = ["/workernode", `/workernode?state=${NodeState.Idle}`, `/workernode?state=${NodeState.Busy}`, "/resource", "/job"]
  const get = async (server: RunningServer, path: string) => {
    const res = await fetch(server.url + path)
    expect(res.status, path).toBe(200)
    return { text: await res.text(), type: res.headers.get("content-type"), length: res.headers.get("content-length"), cache: res.headers.get("cache-control") }
  }
  type Answer = Awaited<ReturnType<typeof get>>
  const Q = LISTING_QUANTUM_SECONDS
  /** The uncached server's answers, per path, at each world time compareAll ran, with the engine version then. */
  const freshSeen = new Map<string, Array<{ readonly t: number; readonly version: number | null; readonly answer: Answer }>>()
  const versionNow = () => Effect.runSync(driver.atWorldTime(driver.engine.api.stamp!)).version
  /**
   * Every listing, twice through the cache (the second a hit) and once fresh:
   * each cached answer is, bytes and headers, the fresh answer at a world time
   * of the same engine version less than the quantum before now (cached
   * bodies are rendered only at the instants requests come, which are these).
   */
  const compareAll = async () => {
    const now = driver.world.now
    const version = versionNow()
    for (const path of PATHS) {
      const fresh = await get(uncached, path)
      const seen = freshSeen.get(path) ?? []
      freshSeen.set(path, [...seen.filter((f) => f.t > now - 2 * Q), { t: now, version, answer: fresh }])
      for (const a of [await get(cached, path), await get(cached, path)]) {
        const match = freshSeen.get(path)!.find((f) => f.version === version && f.version !== null && f.t > now - Q && f.t <= now && JSON.stringify(f.answer) === JSON.stringify(a))
        if (match === undefined) expect(a, `${path} at ${now}: a fresh answer of this version less than ${Q} s old`).toEqual(fresh)
      }
    }
  }

  it("answers like a fresh encoding across steps, fractional times and second boundaries", async () => {
    const seen = new Set<string>()
    let lastBody = ""
    for (let t = 0; t <= 400; t += 2.35) {
      driver.advanceTo(t)
      await compareAll()
      // Within the quantum, no step in between: the bodies rendered just now, not one rendering more.
      const renders = cache.stats().renders
      driver.world.now += Q / 2
      await compareAll()
      expect(cache.stats().renders, "renderings within the quantum").toBe(renders)
      // The clock moves with no step in between: only time_in_current_state may change.
      driver.world.now += 0.6
      await compareAll()
      const body = (await get(cached, "/workernode")).text
      if (body !== lastBody) seen.add(body)
      lastBody = body
    }
    // The world did change under the cache (nodes booted, jobs ran), and the cache was used.
    const nodes = JSON.parse(lastBody) as Array<WorkerNode>
    expect(nodes.filter((n) => n.type !== "physical").length).toBeGreaterThanOrEqual(2)
    expect(seen.size).toBeGreaterThan(50)
    expect(cache.stats().hits).toBeGreaterThan(400)
  })

  it("shows an operator action in the very next GET", async () => {
    driver.advanceTo(420)
    await compareAll()
    const idle = (JSON.parse((await get(cached, "/workernode")).text) as Array<WorkerNode>).find(
      (n) => n.type !== "physical" && (n.state === NodeState.Idle || n.state === NodeState.Busy)
    )
    expect(idle, "an Idle or Busy cloud node to hold").toBeDefined()
    const hold = await fetch(`${cached.url}/workernode/${idle!.hostname}/hold`, { method: "PUT" })
    expect(hold.status, await hold.text()).toBe(200)
    const after = JSON.parse((await get(cached, "/workernode")).text) as Array<WorkerNode>
    expect(after.find((n) => n.hostname === idle!.hostname)!.state).toBe(NodeState.Holding)
    await compareAll()

    const freeze = await fetch(`${cached.url}/resource/aws/freeze`, { method: "PUT" })
    expect(freeze.status, await freeze.text()).toBe(200)
    const resources = JSON.parse((await get(cached, "/resource")).text) as Array<{ name: string; flag: number }>
    expect(resources.find((r) => r.name === "aws")!.flag).toBe(ResourceFlag.Frozen)
    await compareAll()

    const launch = await fetch(`${cached.url}/resource/os?num=1`, { method: "PUT" })
    expect(launch.status, await launch.text()).toBe(200)
    await compareAll()
    driver.advanceTo(480)
    await compareAll()
  })

  it("gzips for clients that accept it: the same bytes once decoded, identity for the others, errors and HEAD as before", async () => {
    driver.advanceTo(490)
    const gzips = cache.stats().gzips
    for (const path of PATHS) {
      const plain = await raw(cached.url, path)
      const fresh = await raw(uncached.url, path)
      expect(plain.status, path).toBe(200)
      expect(plain.headers["content-encoding"], path).toBeUndefined()
      expect(plain.headers.vary, path).toBe("Accept-Encoding")
      expect(plain.body.equals(fresh.body), path).toBe(true)
      expect(Number(plain.headers["content-length"]), path).toBe(plain.body.length)
      for (const accept of ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8, *;q=0.1", "*"]) {
        const gz = await raw(cached.url, path, { "accept-encoding": accept })
        const gzFresh = await raw(uncached.url, path, { "accept-encoding": accept })
        expect(gz.status, `${path} ${accept}`).toBe(200)
        expect(gz.headers["content-type"], path).toBe(plain.headers["content-type"])
        expect(gz.headers.vary, path).toBe("Accept-Encoding")
        if (plain.body.length < GZIP_MIN_BYTES) {
          expect(gz.headers["content-encoding"], path).toBeUndefined()
          expect(gz.body.equals(plain.body), path).toBe(true)
          continue
        }
        expect(gz.headers["content-encoding"], `${path} ${accept}`).toBe("gzip")
        expect(gz.body.length, path).toBeLessThan(plain.body.length)
        expect(Number(gz.headers["content-length"]), path).toBe(gz.body.length)
        expect(gunzipSync(gz.body).equals(plain.body), `${path} ${accept}: decoded`).toBe(true)
        expect(gz.body.equals(gzFresh.body), `${path} ${accept}: as the uncached server compresses`).toBe(true)
        // HEAD: the headers a GET gets, no body.
        const head = await raw(cached.url, path, { "accept-encoding": accept }, "HEAD")
        expect(head.status).toBe(200)
        expect(head.body.length).toBe(0)
        expect(head.headers["content-encoding"]).toBe("gzip")
        expect(head.headers["content-length"]).toBe(gz.headers["content-length"])
      }
      for (const refuse of ["identity", "gzip;q=0", "br", "gzip;q=0, *", "deflate"]) {
        const r = await raw(cached.url, path, { "accept-encoding": refuse })
        expect(r.headers["content-encoding"], `${path} ${refuse}`).toBeUndefined()
        expect(r.body.equals(plain.body), `${path} ${refuse}`).toBe(true)
      }
    }
    // Compressed once per body, not once per request (the world's clock did not move).
    expect(cache.stats().gzips - gzips).toBeLessThanOrEqual(PATHS.length)
    // Errors stay plain JSON, whatever the client accepts.
    const bad = await raw(cached.url, "/workernode?state=99", { "accept-encoding": "gzip" })
    expect(bad.status).toBe(400)
    expect(bad.headers["content-encoding"]).toBeUndefined()
    expect(JSON.parse(bad.body.toString("utf8")).error).toMatch(/state/)
    const head = await raw(cached.url, "/workernode", {}, "HEAD")
    expect(head.status).toBe(200)
    expect(head.body.length).toBe(0)
    expect(head.headers["content-length"]).toBe(String((await raw(cached.url, "/workernode")).body.length))
  })

  it("does not cache while a change is in progress (stamp version null) and versions never repeat across engines", async () => {
    // A wrapper that replaces the snapshot ({ ...api, snapshot }) must not keep a stamp describing another one.
    expect(driver.engine.api.stamp).toBeDefined()
    expect(api.stamp).toBeDefined()
    expect({ ...driver.engine.api }.stamp).toBeUndefined()
    expect({ ...api }.stamp).toBeUndefined()
    const s1 = Effect.runSync(driver.atWorldTime(driver.engine.api.stamp!))
    const s2 = Effect.runSync(driver.atWorldTime(driver.engine.api.stamp!))
    expect(s1.version).not.toBeNull()
    expect(s2.version).toBe(s1.version)
    expect(s1.time).toBe(EPOCH + driver.world.now)
    driver.advanceTo(500)
    const s3 = Effect.runSync(driver.atWorldTime(driver.engine.api.stamp!))
    expect(s3.version).not.toBe(s1.version)
  })
})

describe("the same content (GET /workernode and /resource adopt the previous body by it)", () => {
  const kept = (v: unknown) => copyData(v)!.value

  it("says the same exactly when JSON.stringify gives the same text, for any JSON values", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        expect(sameJsonText(a, kept(a))).toBe(true)
        expect(sameJsonText(a, kept(b))).toBe(JSON.stringify(a) === JSON.stringify(b))
      })
    )
    // near misses: one nested field, key order, an absent key against undefined, -0, NaN
    const node = { hostname: "a", state: 2, instance: { ip: "10.0.0.1", security_groups: ["x"] }, extra_attributes: { s: "free" } }
    const copy = kept(node)
    expect(sameJsonText(structuredClone(node), copy)).toBe(true)
    expect(sameJsonText({ ...node, instance: { ...node.instance, security_groups: ["x", "y"] } }, copy)).toBe(false)
    expect(sameJsonText({ ...node, extra_attributes: { s: "down" } }, copy)).toBe(false)
    expect(sameJsonText({ state: 2, hostname: "a", instance: node.instance, extra_attributes: node.extra_attributes }, copy)).toBe(false)
    expect(sameJsonText({ a: 1, b: undefined }, kept({ a: 1 }))).toBe(false)
    expect(sameJsonText({ a: -0 }, kept({ a: 0 }))).toBe(true)
    expect(sameJsonText([Number.NaN], kept([Number.NaN]))).toBe(false)
    // the copy is the copy's: editing the original in place does not edit it
    node.instance.security_groups.push("y")
    expect(sameJsonText(node, copy)).toBe(false)
  })

  it("copies a __proto__ key as a key, and refuses what is not plain data (never adopted then)", () => {
    const proto = JSON.parse('{"__proto__":{"x":1},"y":2}') as unknown
    const c = kept(proto)
    expect(sameJsonText(proto, c)).toBe(true)
    expect(sameJsonText(JSON.parse('{"y":2}'), c)).toBe(false)
    expect(sameJsonText(JSON.parse('{"__proto__":{"x":2},"y":2}'), c)).toBe(false)
    class Point {
      constructor(readonly x: number) {}
    }
    for (const odd of [new Date(0), { toJSON: () => 1 }, new Point(1), new Map(), [() => 1], { n: 1n }]) expect(copyData({ odd })).toBeNull()
    expect(sameJsonText({ d: new Date(0) }, kept({ d: {} }))).toBe(false)
  })
})
