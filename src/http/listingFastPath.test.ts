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
