/**
 * The Graphite plugin against a real TCP listener on 127.0.0.1: what it sends
 * (plaintext protocol, counts from the engine's snapshot) and that a missing
 * listener is logged and retried, never fatal.
 */
import * as net from "node:net"
import { Effect, Exit, Fiber } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { makeFakeEngine } from "../http/testing/fakeEngine.ts"
import { graphiteLines, graphitePrefix, runGraphiteReporter, sendPlaintext } from "./graphite.ts"
import { makeLogSink } from "./log.ts"

interface Listener {
  readonly port: number
  readonly received: Array<string>
  readonly close: () => Promise<void>
}

const listen = (port = 0): Promise<Listener> =>
  new Promise((resolve, reject) => {
    const received: Array<string> = []
    const sockets = new Set<net.Socket>()
    const server = net.createServer((s) => {
      sockets.add(s)
      let data = ""
      s.on("data", (b) => (data += b))
      s.on("end", () => received.push(data))
      s.on("close", () => sockets.delete(s))
    })
    server.on("error", reject)
    server.listen(port, "127.0.0.1", () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        received,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy()
            server.close(() => r())
          })
      })
    )
  })

const freePort = async () => {
  const l = await listen()
  await l.close()
  return l.port
}

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out")
    await new Promise((r) => setTimeout(r, 20))
  }
}

const parse = (payload: string) =>
  new Map(
    payload
      .trim()
      .split("\n")
      .map((l) => {
        const [path, value, ts] = l.split(" ")
        return [path, { value: Number(value), ts: Number(ts) }] as const
      })
  )

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!()
})

describe("graphite payload", () => {
  it("counts nodes and cores by state, in total and per resource, as `path value timestamp` lines", async () => {
    const snap = await Effect.runPromise(makeFakeEngine().snapshot)
    const text = graphiteLines(snap, "headnode.dynamiccluster", 1443598314.7)
    for (const line of text.trim().split("\n")) expect(line).toMatch(/^[A-Za-z0-9_.-]+ \d+ 1443598314$/)
    const m = parse(text)
    const v = (p: string) => m.get(`headnode.dynamiccluster.${p}`)?.value
    // fake engine: os-res Idle, Busy, Held (1 core each); aws-res Starting, Error (2 cores each); one physical Busy node (16 cores)
    expect([v("nodes.total"), v("nodes.idle"), v("nodes.busy"), v("nodes.starting"), v("nodes.error"), v("nodes.deleting")]).toEqual([6, 1, 2, 1, 1, 0])
    expect([v("nodes.vacating"), v("nodes.held"), v("nodes.holding")]).toEqual([1, 1, 0])
    expect([v("cores.total"), v("cores.busy"), v("cores.starting"), v("cores.error")]).toEqual([23, 17, 2, 2])
    expect([v("resources.os-res.nodes.total"), v("resources.os-res.nodes.busy"), v("resources.os-res.cores.vacating")]).toEqual([3, 1, 1])
    expect([v("resources.aws-res.nodes.starting"), v("resources.aws-res.cores.error"), v("resources.physical.cores.busy")]).toEqual([1, 2, 16])
  })

  it("keeps the prefix's dots and makes every other segment safe", () => {
    expect(graphitePrefix("head node.dc..x/y")).toBe("head_node.dc.x_y")
  })
})

describe("graphite reporter", () => {
  const engine = makeFakeEngine()

  it("sends the plaintext payload over TCP", async () => {
    const l = await listen()
    cleanup.push(l.close)
    await Effect.runPromise(sendPlaintext("127.0.0.1", l.port, "a.b 1 2\n"))
    await waitFor(() => l.received.length === 1)
    expect(l.received).toEqual(["a.b 1 2\n"])
  })

  it("reports at once and then every interval", async () => {
    const l = await listen()
    cleanup.push(l.close)
    const lines: Array<string> = []
    const log = makeLogSink({ level: "debug", format: "json", out: (x) => lines.push(x) })
    const fiber = Effect.runFork(runGraphiteReporter(engine.snapshot, { hostname: "127.0.0.1", port: l.port, prefix: "dc", interval: 0.2 }, log))
    cleanup.push(() => Effect.runPromise(Fiber.interrupt(fiber)).then(() => {}))
    await waitFor(() => l.received.length >= 3)
    const t0 = Date.now() / 1000
    for (const payload of l.received.slice(0, 3)) {
      const m = parse(payload)
      expect(m.get("dc.nodes.total")?.value).toBe(6)
      expect(Math.abs(m.get("dc.nodes.total")!.ts - t0)).toBeLessThan(30)
    }
    expect(lines.map((x) => JSON.parse(x).level)).not.toContain("warn")
  })

  it("a listener that is not there is a warning, retried, and the reports resume when it is back", async () => {
    const port = await freePort()
    const lines: Array<string> = []
    const log = makeLogSink({ level: "debug", format: "json", out: (x) => lines.push(x) })
    const fiber = Effect.runFork(runGraphiteReporter(engine.snapshot, { hostname: "127.0.0.1", port, prefix: "dc", interval: 0.1 }, log))
    cleanup.push(() => Effect.runPromise(Fiber.interrupt(fiber)).then(() => {}))
    await waitFor(() => lines.length >= 3)
    const logged = lines.map((x) => JSON.parse(x))
    expect(logged[0]).toMatchObject({ level: "warn", msg: expect.stringMatching(/graphite: cannot send .*127\.0\.0\.1:\d+.*ECONNREFUSED/) })
    // repeats of the same failure do not flood the log at warning level
    expect(logged.slice(1).every((x) => x.level === "debug")).toBe(true)
    expect(fiber.unsafePoll()).toBeNull() // still running
    const l = await listen(port)
    cleanup.push(l.close)
    await waitFor(() => l.received.length >= 1)
    await waitFor(() => lines.some((x) => JSON.parse(x).level === "info"))
    expect(lines.map((x) => JSON.parse(x)).find((x) => x.level === "info").msg).toMatch(/sending to 127\.0\.0\.1:\d+ again/)
    const exit = await Effect.runPromise(Fiber.interrupt(fiber))
    expect(Exit.isInterrupted(exit)).toBe(true)
  })
})
