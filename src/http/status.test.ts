/**
 * GET /server/status is polled by monitors: it answers from the engine's
 * light status path (EngineApi.status) without building a snapshot of every
 * node, and says exactly what the snapshot's `status` says. A wrapper that
 * replaces the snapshot (live mode adds `clouds` to its status) drops the
 * light path, so the answer follows that snapshot.
 */
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { observedApi } from "../daemon/daemon.ts"
import { type EngineApi, statusOf } from "../engine/api.ts"
import { kitScenario } from "../sim/kit.ts"
import { SimDriver } from "../sim/run.ts"
import { listenHttp, makeHttpApp } from "./server.ts"
import type { RunningServer } from "./testing/serve.ts"

/** The HTTP server alone (testing/serve.ts also samples a history, which takes snapshots of its own). */
const startServer = async (engine: EngineApi, options: typeof OPEN): Promise<RunningServer> => {
  const scope = Effect.runSync(Scope.make())
  const { url } = await Effect.runPromise(listenHttp(makeHttpApp(engine, options), { host: "127.0.0.1", port: 0 }).pipe(Scope.extend(scope)))
  return { url, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const OPEN = { token: null, tokenForReads: false }

describe("GET /server/status without a snapshot", () => {
  const driver = new SimDriver(
    kitScenario({
      resources: [{ name: "os", min: 1, max: 3, cores: 2 }],
      jobs: Array.from({ length: 6 }, (_, i) => ({ submit: 5 + i * 11, runtime: 60, cores: 2 })),
      settings: { cluster_poller_interval: 3, cloud_poller_interval: 4, auto_provision_interval: 5 }
    }),
    { seed: 1, collect: false },
    () => {}
  )
  const inner = observedApi(
    () => driver.engine.api,
    () => driver.requestStep(),
    (eff) => driver.atWorldTime(eff)
  )
  let snapshots = 0
  // The same API, counting the snapshots built (a copy keeps neither the stamp nor the light path: forward it).
  const counting: EngineApi = Object.defineProperty(
    { ...inner, snapshot: Effect.tap(inner.snapshot, () => Effect.sync(() => void snapshots++)) },
    "status",
    { value: inner.status, enumerable: false }
  )
  // A wrapper that changes the snapshot's status (as live mode does), without forwarding the light path.
  const replaced: EngineApi = { ...inner, snapshot: Effect.map(inner.snapshot, (s) => ({ ...s, status: { ...s.status, cluster: { wrapped: true } } })) }
  let server: RunningServer
  let wrapped: RunningServer
  beforeAll(async () => {
    server = await startServer(counting, OPEN)
    wrapped = await startServer(replaced, OPEN)
  })
  afterAll(async () => {
    await server?.close()
    await wrapped?.close()
  })
  const get = async (s: RunningServer) => {
    const res = await fetch(s.url + "/server/status")
    expect(res.status).toBe(200)
    return (await res.json()) as unknown
  }

  it("answers what the snapshot's status says, and builds no snapshot", async () => {
    expect(driver.engine.api.status).toBeDefined()
    expect({ ...driver.engine.api }.status).toBeUndefined()
    for (const t of [0, 2, 7, 30, 90]) {
      driver.advanceTo(t)
      if (t === 30) await Effect.runPromise(inner.setAuto(false))
      const before = snapshots
      const body = await get(server)
      expect(snapshots).toBe(before)
      expect(body).toEqual(Effect.runSync(inner.snapshot).status)
      expect(Effect.runSync(statusOf(inner))).toEqual(body)
    }
    expect((await get(server)) as { auto_mode: boolean }).toMatchObject({ auto_mode: false })
  })

  it("follows a wrapper's snapshot when the wrapper drops the light path", async () => {
    expect(replaced.status).toBeUndefined()
    expect(await get(wrapped)).toEqual(Effect.runSync(replaced.snapshot).status)
    expect(await get(wrapped)).toMatchObject({ cluster: { wrapped: true } })
  })
})
