/**
 * Two savings on the big listings (docs/performance.md, "Branch perf-api3"):
 * GET /job adopts the previous version's template when the queue holds the
 * very same job objects (no 26 MB re-encoding at every engine poll), and a
 * request whose body is ready is answered on Node's request event without
 * per-request Effect work (the fast path) — with the bytes and headers the
 * app itself sends.
 */
import * as Http from "node:http"
import { gunzipSync } from "node:zlib"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { type EngineApi, withStamp } from "../engine/api.ts"
import { makeBodyCache } from "./bodyCache.ts"
import { jobJson } from "./server.ts"
import { FAKE_TIME, makeFakeEngine } from "./testing/fakeEngine.ts"
import { startServer } from "./testing/serve.ts"
import { raw } from "./testing/raw.ts"

/** The fake engine with a stamp: a fixed time and a version the test moves; enough jobs for /job to be gzipped. */
const engineWithVersion = () => {
  const fake = makeFakeEngine()
  for (let i = 0; i < 40; i++) fake.jobs.push({ ...fake.jobs[1], jobid: `${100 + i}.headnode.example.org` })
  const at = { version: 1 }
  const engine: EngineApi = withStamp({ ...fake }, Effect.sync(() => ({ version: at.version, time: FAKE_TIME })))
  return { fake, at, engine }
}

const withoutDate = (h: Http.IncomingHttpHeaders) => {
  const { date: _date, ...rest } = h
  return rest
}

describe("GET /job across engine versions", () => {
  it("adopts the previous template while the jobs are the same objects, and encodes anew when one changed", async () => {
    const { fake, at, engine } = engineWithVersion()
    const cache = makeBodyCache()
    const server = await startServer(engine, { token: null, tokenForReads: false, bodyCache: cache })
    try {
      const fresh = () => JSON.stringify(fake.jobs.map(jobJson)) + "\n"
      const both = async () => {
        const plain = await raw(server.url, "/job")
        const gz = await raw(server.url, "/job", { "accept-encoding": "gzip" })
        expect(gz.headers["content-encoding"]).toBe("gzip")
        return [plain.body.toString("utf8"), gunzipSync(gz.body).toString("utf8")]
      }
      expect(await both()).toEqual([fresh(), fresh()])
      const first = cache.stats()
      expect(first.misses).toBe(1)
      // Ten new versions (engine polls), the queue unchanged: not one encoding, rendering or gzip more.
      for (let v = 2; v <= 11; v++) {
        at.version = v
        expect(await both()).toEqual([fresh(), fresh()])
      }
      const after = cache.stats()
      expect(after.misses).toBe(first.misses)
      expect(after.renders).toBe(first.renders)
      expect(after.gzips).toBe(first.gzips)
      expect(after.adopted).toBeGreaterThanOrEqual(10)
      // One job replaced by a new object (its priority changed): a new encoding that shows it.
      fake.jobs[2] = { ...fake.jobs[2], priority: 99 }
      at.version = 12
      const changed = await both()
      expect(changed).toEqual([fresh(), fresh()])
      expect(changed[0]).toContain('"priority":99')
      expect(cache.stats().misses).toBe(first.misses + 1)
      // A job more, same version count: again new.
      fake.jobs.push({ ...fake.jobs[1], jobid: "999.headnode.example.org" })
      at.version = 13
      expect(await both()).toEqual([fresh(), fresh()])
      expect(cache.stats().misses).toBe(first.misses + 2)
    } finally {
      await server.close()
    }
  })
})

describe("GET /workernode and /resource across engine versions", () => {
  // Snapshots copy the nodes and the engine edits its nodes in place, so these
  // listings compare the content they encode (not object identity) with the
  // previous version's. The oracle: the same fake engine without a stamp,
  // whose every answer is a fresh encoding.
  const PATHS = ["/workernode", "/workernode?state=3", "/resource"]
  const mutable = (x: unknown) => x as Record<string, unknown>

  it("adopts the previous body exactly when the encoded content is unchanged, and encodes anew whenever anything in it changed", async () => {
    const { fake, at, engine } = engineWithVersion()
    // enough busy nodes for /workernode?state=3 to be gzipped
    for (let i = 0; i < 4; i++) fake.nodes.push({ ...fake.nodes[1], hostname: `cw-vm-b${i}.sa.nectar.org.au` })
    // The fake's resources list its stored nodes, whose time_in_current_state it does not recompute: kept true here.
    const consistent = () => {
      for (const n of fake.nodes) mutable(n).time_in_current_state = FAKE_TIME - n.state_start_time
    }
    consistent()
    const cache = makeBodyCache()
    const server = await startServer(engine, { token: null, tokenForReads: false, bodyCache: cache })
    const oracle = await startServer({ ...fake }, { token: null, tokenForReads: false })
    try {
      const both = async (path: string) => {
        const plain = await raw(server.url, path)
        const gz = await raw(server.url, path, { "accept-encoding": "gzip" })
        expect(gz.headers["content-encoding"], path).toBe("gzip")
        return [plain.body.toString("utf8"), gunzipSync(gz.body).toString("utf8")]
      }
      const expected = async (path: string) => (await raw(oracle.url, path)).body.toString("utf8")
      const last = new Map<string, string>()
      for (const path of PATHS) {
        const want = await expected(path)
        expect(await both(path)).toEqual([want, want])
        last.set(path, want)
      }
      const first = cache.stats()
      // Ten new versions (engine steps), nothing changed: the same bodies, not one encoding, rendering or gzip more.
      const keys = ["/workernode?state=", "/workernode?state=3", "/resource"]
      const held = keys.map((k) => cache.peek(k, at.version, FAKE_TIME, true))
      expect(held.every((r) => r !== undefined)).toBe(true)
      for (let v = 0; v < 10; v++) {
        at.version++
        for (const path of PATHS) expect(await both(path)).toEqual([last.get(path), last.get(path)])
      }
      const after = cache.stats()
      expect(after.misses).toBe(first.misses)
      expect(after.renders).toBe(first.renders)
      expect(after.gzips).toBe(first.gzips)
      expect(after.adopted).toBeGreaterThanOrEqual(10 * PATHS.length)
      keys.forEach((k, i) => expect(cache.peek(k, at.version, FAKE_TIME, true), `${k}: the very same body`).toBe(held[i]))

      // Each change, then a new version: every listing equals a fresh encoding,
      // and is encoded anew exactly when its text changed (else adopted).
      const cloudBusy = () => fake.nodes.find((n) => n.hostname === "cw-vm-d0eb.sa.nectar.org.au")!
      const changes: ReadonlyArray<readonly [string, () => void | Promise<void>]> = [
        ["a node's state (the node replaced)", () => fake.setNodeState("cw-vm-d05e.sa.nectar.org.au", 3)],
        ["a field edited in place", () => void (mutable(cloudBusy()).jobs = "0/13,1/99")],
        ["its instance's ip edited in place (shared by the snapshot's shallow copy)", () => void (mutable(cloudBusy().instance).ip = "10.9.9.9")],
        ["an extra attribute edited in place", () => void (mutable(fake.nodes[0].extra_attributes).status = "state=down")],
        ["a security group list set", () => void (mutable(cloudBusy().instance).security_groups = ["default"])],
        ["...and edited in place", () => void (cloudBusy().instance!.security_groups as Array<string>).push("ssh")],
        ["only a state_start_time (time_in_current_state follows)", () => void (mutable(cloudBusy()).state_start_time = FAKE_TIME - 7)],
        ["the same fields in another order", () => {
          const n = cloudBusy()
          const { hostname, ...rest } = n
          fake.nodes[fake.nodes.indexOf(n)] = { ...rest, hostname }
        }],
        ["a physical node's jobs", () => void (mutable(fake.nodes[fake.nodes.length - 1]).jobs = "0/14.headnode")],
        ["a resource frozen", () => Effect.runPromise(engine.freeze("aws-res"))],
        ["nothing", () => {}],
        ["a node removed", () => void fake.nodes.splice(fake.nodes.indexOf(cloudBusy()), 1)]
      ]
      for (const [what, change] of changes) {
        await change()
        consistent()
        at.version++
        for (const path of PATHS) {
          const want = await expected(path)
          const misses = cache.stats().misses
          expect(await both(path), `${what}: ${path}`).toEqual([want, want])
          expect(cache.stats().misses - misses, `${what}: ${path} encoded anew iff its text changed`).toBe(want === last.get(path) ? 0 : 1)
          last.set(path, want)
        }
      }
      // every change above shows in at least one listing (the test can fail)
      expect(cache.stats().misses).toBeGreaterThanOrEqual(first.misses + changes.length - 1)
    } finally {
      await server.close()
      await oracle.close()
    }
  })
})

describe("the fast path", () => {
  const PATHS = ["/workernode", "/workernode?state=2", "/resource", "/job"]

  it("answers a ready listing with the very bytes and headers the app sent for it", async () => {
    const { at, engine } = engineWithVersion()
    const cache = makeBodyCache()
    const server = await startServer(engine, { token: null, tokenForReads: false, bodyCache: cache })
    try {
      for (const path of PATHS) {
        for (const headers of [{}, { "accept-encoding": "gzip" }, { "accept-encoding": "gzip;q=0, identity" }] as Array<Record<string, string>>) {
          at.version++ // nothing ready for this version yet
          const fast0 = cache.stats().fast
          const byApp = await raw(server.url, path, headers)
          expect(byApp.status, path).toBe(200)
          expect(cache.stats().fast, `${path}: the first request renders, through the app`).toBe(fast0)
          await new Promise((r) => setTimeout(r, 20)) // its gzip done
          const fast = await raw(server.url, path, headers)
          expect(cache.stats().fast, `${path} ${JSON.stringify(headers)}: answered on the fast path`).toBe(fast0 + 1)
          expect(fast.status).toBe(200)
          expect(withoutDate(fast.headers)).toEqual(withoutDate(byApp.headers))
          expect(fast.body.equals(byApp.body), path).toBe(true)
        }
      }
    } finally {
      await server.close()
    }
  })

  it("leaves to the app what it must check or render: HEAD, other spellings, a body, a new version, a token for reads", async () => {
    const { at, engine } = engineWithVersion()
    const cache = makeBodyCache()
    const server = await startServer(engine, { token: null, tokenForReads: false, bodyCache: cache })
    try {
      await raw(server.url, "/workernode?state=2")
      const fast0 = cache.stats().fast
      const head = await raw(server.url, "/workernode?state=2", {}, "HEAD")
      expect(head.status).toBe(200)
      expect(head.body.length).toBe(0)
      const padded = await raw(server.url, "/workernode?state=02")
      expect(padded.status).toBe(200)
      const bad = await raw(server.url, "/workernode?state=9")
      expect(bad.status).toBe(400)
      const withBody = await raw(server.url, "/workernode?state=2", { "content-length": "99999999" })
      expect(withBody.status).toBe(413)
      at.version++
      expect((await raw(server.url, "/workernode?state=2")).status).toBe(200)
      expect(cache.stats().fast).toBe(fast0)
    } finally {
      await server.close()
    }
    const guarded = engineWithVersion()
    const guardedCache = makeBodyCache()
    const locked = await startServer(guarded.engine, { token: "s3cret", tokenForReads: true, bodyCache: guardedCache })
    try {
      const auth = { authorization: "Bearer s3cret" }
      expect((await raw(locked.url, "/resource", auth)).status).toBe(200)
      expect((await raw(locked.url, "/resource", auth)).status).toBe(200)
      expect((await raw(locked.url, "/resource")).status).toBe(401)
      expect(guardedCache.stats().fast).toBe(0)
    } finally {
      await locked.close()
    }
  })
})
