/**
 * `dyncluster run` as administrators meet it: start-up errors are one clear
 * message and a non-zero exit (live layers not available yet, bad flags, a
 * port in use), and with logging.log_location the log goes to the file while
 * stdout only says where the dashboard is.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { runDaemon, type RunDaemonOptions } from "./main.ts"
import { startDyncluster } from "./testing/process.ts"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

describe("dyncluster run: start-up errors", () => {
  it("the command prints the reason on stderr and exits with code 1 (a live layer not available yet)", async () => {
    const d = startDyncluster(["run", "--config", fixture("live-salt.yaml")])
    const { code } = await d.exited
    expect(code).toBe(1)
    expect(d.stderr.join("\n")).toBe("dyncluster run: config checker dynamiccluster.saltclient.SaltChecker not available yet")
    expect(d.stdout).toEqual([])
  }, 120_000)

  const failure = (o: RunDaemonOptions) => Effect.runPromise(Effect.flip(runDaemon(o))).then((e) => e.message)

  it("bad combinations and flags name what is wrong", async () => {
    expect(await failure({})).toMatch(/^give either --sim SCENARIO \(the simulated world\) or --config FILE/)
    expect(await failure({ sim: fixture("api.yaml"), config: fixture("live-salt.yaml") })).toMatch(/^give either --sim/)
    expect(await failure({ sim: "no/such/scenario.yaml" })).toMatch(/no\/such\/scenario\.yaml: no such file/)
    expect(await failure({ config: "no/such/config.yaml" })).toMatch(/no\/such\/config\.yaml: no such file/)
    const dir = mkdtempSync(join(tmpdir(), "dc-run-"))
    writeFileSync(join(dir, "sim.yaml"), "cluster: {type: simulated}\ncloud: {r: {type: simulated, quantity: {max: 1}}}\n")
    expect(await failure({ config: join(dir, "sim.yaml") })).toBe(
      "cluster type simulated needs cluster.scenario under --config: the scenario file whose batch system (physical nodes, scheduler, workload) stands in for the cluster; a whole simulation runs with `dyncluster run --sim SCENARIO`\ncloud type simulated (resource r) with cluster type simulated: when both the batch system and the cloud are simulated, run the whole simulation with `dyncluster run --sim SCENARIO`"
    )
    // a live layer that refuses its section names the key (and never shows the password)
    writeFileSync(
      join(dir, "os.yaml"),
      "cluster: {type: torque}\ncloud: {os-res: {type: openstack, quantity: {max: 1}, config: {auth_url: 'https://k.example:5000/v3/', username: u, password: live-pass-SECRET-5}}}\n"
    )
    const os = await failure({ config: join(dir, "os.yaml") })
    expect(os).toMatch(/^cloud resource os-res: cloud\.os-res\.config\.image_uuid: is required but missing$/m)
    expect(os).not.toContain("live-pass-SECRET-5")
    expect(await failure({ config: fixture("live-salt.yaml"), speed: 5, events: "x.jsonl" })).toBe("--speed, --events only apply to --sim")
    expect(await failure({ sim: fixture("api.yaml"), logFormat: "xml", logLevel: "9" })).toBe(
      '--log-level: expected 0..3 or error, warn, info, debug, got "9"\n--log-format: expected json or text, got "xml"'
    )
    expect(await failure({ sim: fixture("api.yaml"), speed: -2, logFormat: "json", port: 0 })).toMatch(/^--speed: expected a number above 0/)
    expect(await failure({ sim: fixture("api.yaml"), policy: "nope", logFormat: "json", port: 0 })).toMatch(/^--policy: unknown policy "nope"/)
  })

  it("a port in use is a clear error", async () => {
    const busy = net.createServer()
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()))
    const port = (busy.address() as net.AddressInfo).port
    try {
      const dir = mkdtempSync(join(tmpdir(), "dc-run-"))
      expect(await failure({ sim: fixture("api.yaml"), port, logFormat: "json", events: join(dir, "ev.jsonl") })).toBe(
        `cannot serve the API on 127.0.0.1:${port}: the address is already in use (another dyncluster? pick another --port)`
      )
    } finally {
      busy.close()
    }
  })
})

describe("dyncluster run: logging to a file", () => {
  it("writes JSON lines at the configured level to log_location; stdout only names the dashboard", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-run-"))
    const logFile = join(dir, "dc.log")
    const events = join(dir, "events.jsonl")
    const scenario = join(dir, "s.yaml")
    writeFileSync(
      scenario,
      readFileSync(fixture("api.yaml"), "utf8").replace(
        "  plugins:\n",
        `  logging: {log_level: 3, log_location: ${JSON.stringify(logFile)}, log_max_size: 1000000}\n  plugins:\n`
      )
    )
    const announced: Array<string> = []
    const fiber = Effect.runFork(runDaemon({ sim: scenario, speed: 100, port: 0, events, announce: (l) => announced.push(l) }))
    const until = Date.now() + 30_000
    const text = () => readFileSync(logFile, "utf8")
    while (!(announced.length > 0 && /booted api-os/.test(text())) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(announced).toEqual([expect.stringMatching(/^dyncluster: dashboard at http:\/\/127\.0\.0\.1:\d+\/dashboard \(logging to .*dc\.log\)$/)])
    const lines = text().trim().split("\n").map((l) => JSON.parse(l))
    expect(lines[0].msg).toMatch(/^dashboard at /)
    expect(lines.find((l) => l.msg === "daemon settings")).toMatchObject({ level: "debug", protection: "none", port: 0 })
    expect(lines.some((l) => /booted api-os-\d+ in os/.test(l.msg) && typeof l.sim_time === "number")).toBe(true)
    expect(lines[lines.length - 1].msg).toBe("dyncluster stopped on request")
    expect(text()).not.toMatch(/SECRET/)
    // --events: the world's event log, as `dyncluster simulate --events` writes it
    const ev = readFileSync(events, "utf8").trim().split("\n").map((l) => JSON.parse(l))
    expect(ev.some((e) => e.ev === "boot")).toBe(true)
  }, 60_000)
})
