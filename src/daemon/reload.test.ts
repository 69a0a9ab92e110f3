/**
 * Reload without a restart (#23), on a running `dyncluster run --sim`
 * process: SIGHUP with a changed max and max_idle_time, and the engine uses
 * them (a launch beyond the old max, idle nodes held after the new idle
 * time); PUT /server/config/reload with an invalid file answers 422 with
 * every problem and changes nothing.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { startDyncluster, type Daemon } from "./testing/process.ts"

const scenario = (o: { readonly max: unknown; readonly idle: unknown }) => `name: reload-test
seed: 3
config:
  dynamic-cluster:
    policy: classic
    max_idle_time: ${o.idle}
    cluster_poller_interval: 5
    cloud_poller_interval: 5
    auto_provision_interval: 10
  cluster: {type: simulated}
  cloud:
    os:
      type: simulated
      quantity: {min: 0, max: ${o.max}}
      config: {instance_name_prefix: rl-os}
cluster:
  physical: {count: 1, cores: 1, prefix: phys}
  scheduler_cycle: 5
clouds:
  os: {cores: 2, boot_time: 10, config_time: 2}
workload:
  type: jobs
  jobs:
    - {submit: 0, cores: 2, cpn: 2, runtime: 20}
    - {submit: 0, cores: 2, cpn: 2, runtime: 20}
`

const TOKEN = "reload-test-token-0123"
const json = (line: string): Record<string, unknown> => {
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return {}
  }
}

let daemon: Daemon | null = null
afterEach(() => {
  daemon?.kill("SIGKILL")
  daemon = null
})

describe("reload without a restart", () => {
  it("SIGHUP applies a new max and max_idle_time; an invalid file (PUT /server/config/reload) changes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-reload-"))
    const file = join(dir, "scenario.yaml")
    writeFileSync(file, scenario({ max: 2, idle: 3600 }))
    const d = (daemon = startDyncluster(["run", "--sim", file, "--speed", "20", "--port", "0", "--log-format", "json"], { DYNCLUSTER_TOKEN: TOKEN }))
    const url = json(await d.waitForLine((l) => json(l).url !== undefined, 120_000)).url as string
    const get = async (path: string) => (await fetch(url + path)).json() as Promise<any>
    const put = (path: string, token: string | null = TOKEN) =>
      fetch(url + path, { method: "PUT", headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    const msgs = () => d.stdout.map((l) => String(json(l).msg ?? ""))
    const waitMsg = (pred: (m: string) => boolean, ms = 60_000) => d.waitForLine((l) => pred(String(json(l).msg ?? "")), ms)

    // the first configuration: at most 2 nodes, idle nodes kept for an hour
    await waitMsg((m) => /^booted /.test(m))
    expect((await get("/resource/os")).max_num).toBe(2)
    const before = await put("/resource/os?num=3")
    expect(before.status).toBe(400)

    writeFileSync(file, scenario({ max: 5, idle: 20 }))
    d.kill("SIGHUP")
    await waitMsg((m) => m.startsWith("reloaded "))
    expect(msgs()).toContain("reload: dynamic-cluster.max_idle_time: 3600 → 20")
    expect(msgs()).toContain("reload: cloud.os.quantity: min 0 → 0, max 2 → 5")
    expect((await get("/resource/os")).max_num).toBe(5)
    expect((await get("/server/config"))["dynamic-cluster"].max_idle_time).toBe(20)
    // the engine uses them: a launch beyond the old max, and idle nodes held after 20 s instead of an hour
    expect((await put("/resource/os?num=3")).status).toBe(200)
    await waitMsg((m) => m.includes("max_idle_time 20s"))
    // nodes survived the reload: the ones booted before it are still known
    expect((await get("/workernode")).length).toBeGreaterThan(0)

    // an invalid file: 401 without the token, 422 with every problem, nothing changes
    writeFileSync(file, scenario({ max: "lots", idle: -5 }))
    expect((await put("/server/config/reload", null)).status).toBe(401)
    // a refused request is logged: what, and from where
    const refused = json(await d.waitForLine((l) => String(json(l).msg).startsWith("API request refused"), 30_000))
    expect(refused).toMatchObject({ level: "warn", msg: `API request refused (401, no token): PUT "/server/config/reload" from 127.0.0.1`, method: "PUT", status: 401 })
    const bad = await put("/server/config/reload")
    expect(bad.status).toBe(422)
    const body = (await bad.json()) as { error: string; problems: Array<string> }
    expect(body.error).toMatch(/invalid configuration \(2 problem\(s\)\); still running on the previous one/)
    expect(body.problems.some((p) => p.includes("dynamic-cluster.max_idle_time"))).toBe(true)
    expect(body.problems.some((p) => p.includes("cloud.os.quantity.max"))).toBe(true)
    expect(msgs().filter((m) => m.startsWith("reload refused: ")).length).toBe(3)
    expect((await get("/resource/os")).max_num).toBe(5)
    expect((await get("/server/config"))["dynamic-cluster"].max_idle_time).toBe(20)

    // a valid file again through the API: 200 with what changed
    writeFileSync(file, scenario({ max: 4, idle: 20 }))
    const ok = await put("/server/config/reload")
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ success: true, changes: ["cloud.os.quantity: min 0 → 0, max 5 → 4"], restart: [] })

    d.kill("SIGTERM")
    expect((await d.exited).code).toBe(0)
    // every line is JSON (journalctl -o cat | jq): Effect's own log calls too, such as the refused request
    expect(d.stdout.filter((l) => !l.startsWith("{"))).toEqual([])
  }, 240_000)
})
