/**
 * The cached listings (bodyCache.ts) must be byte for byte what encoding a
 * fresh snapshot gives: templates against JSON.stringify on arbitrary nodes,
 * then the real HTTP server on a real engine in a simulated world, with and
 * without the cache, across engine steps, fractional times and second
 * boundaries, and operator actions seen by the very next GET.
 */
import { Effect } from "effect"
import * as fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { observedApi } from "../daemon/daemon.ts"
import type { EngineApi } from "../engine/api.ts"
import { NodeState, ResourceFlag, type WorkerNode } from "../model/types.ts"
import { kitScenario } from "../sim/kit.ts"
import { SimDriver } from "../sim/run.ts"
import { identityOpener, makeBodyCache, makeTemplate, renderTemplate } from "./bodyCache.ts"
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
        }
      ),
      { numRuns: 300 }
    )
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
  /** Every listing, twice through the cache (the second a hit) and once fresh: all the same bytes and headers. */
  const compareAll = async () => {
    for (const path of PATHS) {
      const a = await get(cached, path)
      const b = await get(cached, path)
      const fresh = await get(uncached, path)
      expect(a, path).toEqual(fresh)
      expect(b, path).toEqual(fresh)
    }
  }

  it("answers like a fresh encoding across steps, fractional times and second boundaries", async () => {
    const seen = new Set<string>()
    let lastBody = ""
    for (let t = 0; t <= 400; t += 2.35) {
      driver.advanceTo(t)
      await compareAll()
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
