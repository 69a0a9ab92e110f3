/**
 * slurm-resume / slurm-suspend logic with a test Cloud held in memory and
 * scontrol replaced (through the templates, as an administrator could) by a
 * command that writes its arguments to a file: what each node's outcome is,
 * what Slurm is told, what the state file records, the limits, and the
 * failure modes. The real slurmctld runs them in slurm-power.integration.test.ts.
 */
import { Effect, Either } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CloudError, type BootOptions, type CloudService } from "../../engine/services.ts"
import { emptyInstance, InstanceState, type Instance } from "../../model/types.ts"
import { makeRunner } from "../batch-commands.ts"
import { decodeSlurmConfig, type SlurmTemplate } from "./config.ts"
import { readPowerState, slurmResume, slurmSuspend, type PowerDeps } from "./power.ts"

interface MemCloud extends CloudService {
  readonly booted: Array<{ name: string; userData: Readonly<Record<string, string>> | undefined }>
  readonly destroyed: Array<string>
  readonly live: Map<string, Instance>
}

/** A cloud in memory: boots are Pending, Active (with an address) after `activeAfter` refreshes. */
const memCloud = (opts: { readonly failFor?: ReadonlyArray<string>; readonly activeAfter?: number; readonly noAddress?: boolean } = {}): MemCloud => {
  const live = new Map<string, Instance>()
  const refreshes = new Map<string, number>()
  const booted: MemCloud["booted"] = []
  const destroyed: Array<string> = []
  let n = 0
  return {
    booted,
    destroyed,
    live,
    list: (r) => Effect.succeed([...live.values()].filter((i) => i.cloud_resource === r)),
    boot: (r: string, o?: BootOptions) =>
      Effect.suspend(() => {
        const node = o?.userData?.slurm_node ?? "?"
        if (opts.failFor?.includes(node)) return Effect.fail(new CloudError({ resource: r, op: "boot", kind: "capacity", message: `no capacity for ${node}` }))
        const name = `vm${++n}`
        const inst: Instance = { ...emptyInstance(r, 0), uuid: `u-${name}`, instance_name: name, vcpu_number: 2 }
        live.set(name, inst)
        booted.push({ name, userData: o?.userData })
        return Effect.succeed(inst)
      }),
    refresh: (i) =>
      Effect.sync(() => {
        const cur = live.get(i.instance_name ?? "")
        if (cur === undefined) return { ...i, state: InstanceState.Inexistent }
        const k = (refreshes.get(cur.instance_name!) ?? 0) + 1
        refreshes.set(cur.instance_name!, k)
        if (k < (opts.activeAfter ?? 1)) return cur
        const up: Instance = { ...cur, state: InstanceState.Active, ip: opts.noAddress ? null : `10.0.0.${cur.instance_name!.slice(2)}`, dns_name: `${cur.instance_name}.cloud` }
        live.set(cur.instance_name!, up)
        return up
      }),
    destroy: (i) =>
      Effect.sync(() => {
        live.delete(i.instance_name ?? "")
        destroyed.push(i.instance_name ?? "?")
      }),
    coresPerNode: () => Effect.succeed(2)
  }
}

let dir: string
let told: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dyncluster-power-"))
  told = join(dir, "scontrol.log")
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** What slurm-resume told Slurm, one line per scontrol call. */
const slurmWasTold = () => (existsSync(told) ? readFileSync(told, "utf8").trim().split("\n") : [])

const deps = (cloud: CloudService, over: Record<string, unknown> = {}, max = 4): PowerDeps & { readonly lines: Array<string> } => {
  const settings = Either.getOrThrow(
    decodeSlurmConfig(
      {
        power_save_nodes: { r: "c[1-4]" },
        power_save_state_file: join(dir, "state", "power.json"),
        power_save_boot_timeout: 1,
        down_node_command: `sh -c 'echo "down $1 $2" >> "$0"' ${told} {0} {1}`,
        set_node_address_command: `sh -c 'echo "addr $1 $2 $3" >> "$0"' ${told} {0} {1} {2}`,
        ...over
      },
      { mode: "power_save", resources: ["r"] }
    )
  )
  const lines: Array<string> = []
  return {
    settings,
    runner: makeRunner<SlurmTemplate>(settings, { timeoutMs: 10_000 }),
    clouds: new Map([["r", cloud]]),
    maxOf: () => max,
    log: (l) => lines.push(l),
    pollInterval: 0.02,
    lines
  }
}
const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)
const state = (d: PowerDeps) => Either.getOrThrow(readPowerState(d.settings.power_save_state_file))

describe("slurm-resume", () => {
  it("boots one VM per node of the host list, tells Slurm each address, records node → instance", async () => {
    const cloud = memCloud({ activeAfter: 2 })
    const d = deps(cloud)
    const out = await run(slurmResume(d, "c[1-2]"))
    expect(out.map((o) => [o.node, o.ok])).toEqual([
      ["c1", true],
      ["c2", true]
    ])
    expect(cloud.booted.map((b) => b.userData)).toEqual([{ slurm_node: "c1" }, { slurm_node: "c2" }])
    expect(slurmWasTold().sort()).toEqual(["addr c1 10.0.0.1 vm1.cloud", "addr c2 10.0.0.2 vm2.cloud"])
    const st = state(d)
    expect(Object.keys(st).sort()).toEqual(["c1", "c2"])
    expect(st.c1).toMatchObject({ resource: "r", instance: { instance_name: "vm1", state: InstanceState.Active, ip: "10.0.0.1" } })
    expect(d.lines.join("\n")).toMatch(/resume c1: booted: vm1 \(r\) at 10\.0\.0\.1/)
    // Slurm resumes a node whose VM still runs: reused, not booted twice
    const again = await run(slurmResume(d, "c1"))
    expect(again[0]).toMatchObject({ ok: true })
    expect(cloud.booted).toHaveLength(2)
  })

  it("a boot that fails puts the node DOWN with a reason (Slurm requeues its jobs); the others still boot", async () => {
    const cloud = memCloud({ failFor: ["c3"] })
    const d = deps(cloud)
    const out = await run(slurmResume(d, "c2,c3"))
    expect(out.find((o) => o.node === "c3")).toMatchObject({ ok: false, message: expect.stringMatching(/boot in r failed \(capacity\)/) })
    expect(out.find((o) => o.node === "c2")).toMatchObject({ ok: true })
    expect(slurmWasTold()).toContain("down c3 dyncluster:boot_failed:capacity")
    expect(Object.keys(state(d))).toEqual(["c2"])
  })

  it("a VM that never becomes Active within power_save_boot_timeout is destroyed and its node put DOWN", async () => {
    const cloud = memCloud({ activeAfter: 1_000_000 })
    const d = deps(cloud)
    const [o] = await run(slurmResume(d, "c1"))
    expect(o).toMatchObject({ ok: false, message: expect.stringMatching(/vm1 not Active within 1s \(last: Pending\)/) })
    expect(cloud.destroyed).toEqual(["vm1"])
    expect(slurmWasTold()).toEqual(["down c1 dyncluster:boot_failed"])
    expect(state(d)).toEqual({})
  })

  it("an Active VM without an address cannot be given to Slurm: destroyed, node DOWN", async () => {
    const cloud = memCloud({ noAddress: true })
    const d = deps(cloud)
    const [o] = await run(slurmResume(d, "c1"))
    expect(o.ok).toBe(false)
    expect(cloud.destroyed).toEqual(["vm1"])
    expect(slurmWasTold()).toEqual(["down c1 dyncluster:no_address"])
  })

  it("never more VMs than the resource's max, also with several resumes at once", async () => {
    const cloud = memCloud()
    const d = deps(cloud, {}, 3)
    const [a, b] = await run(Effect.all([slurmResume(d, "c[1-2]"), slurmResume(d, "c[3-4]")], { concurrency: 2 }))
    const all = [...a, ...b]
    expect(all.filter((o) => o.ok)).toHaveLength(3)
    expect(all.filter((o) => !o.ok).map((o) => o.message)).toEqual([expect.stringMatching(/already has 3 VM\(s\), its max/)])
    expect(cloud.booted).toHaveLength(3)
    expect(Object.keys(state(d))).toHaveLength(3)
    expect(slurmWasTold().filter((l) => l.startsWith("down"))).toEqual([expect.stringMatching(/^down c\d dyncluster:max_reached$/)])
  })

  it("a node that is not in power_save_nodes is put DOWN, not booted", async () => {
    const cloud = memCloud()
    const d = deps(cloud)
    const [o] = await run(slurmResume(d, "gpu7"))
    expect(o).toMatchObject({ ok: false, message: "node gpu7 is not listed in cluster.config.power_save_nodes" })
    expect(cloud.booted).toEqual([])
    expect(slurmWasTold()).toEqual(["down gpu7 dyncluster:not_in_power_save_nodes"])
  })

  it("bad host lists and unreadable state files stop the command with a clear error", async () => {
    const d = deps(memCloud())
    const err = async (e: Effect.Effect<unknown, { message: string }>) => Either.getLeft(await Effect.runPromise(Effect.either(e))).pipe((x) => (x._tag === "Some" ? x.value.message : "(none)"))
    expect(await err(slurmResume(d, "c[1-"))).toMatch(/bad host list "c\[1-": .*unclosed/)
    expect(await err(slurmResume(d, ""))).toMatch(/no nodes given/)
    expect(await err(slurmResume(d, "c1,-rf"))).toMatch(/invalid hostname "-rf"/)
    mkdirSync(join(dir, "state"), { recursive: true })
    writeFileSync(d.settings.power_save_state_file, "{not json")
    expect(await err(slurmResume(d, "c1"))).toMatch(/power\.json is not JSON .*fix or remove it/)
    writeFileSync(d.settings.power_save_state_file, JSON.stringify({ version: 1, nodes: { c1: { resource: 3 } } }))
    expect(await err(slurmSuspend(d, "c1"))).toMatch(/is not a dyncluster power-saving state/)
  })

  it("takes over the state file's lock when its holder died", async () => {
    const d = deps(memCloud())
    const lock = `${d.settings.power_save_state_file}.lock`
    mkdirSync(lock, { recursive: true })
    const dead = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim()
    writeFileSync(join(lock, "pid"), dead)
    const [o] = await run(slurmResume(d, "c1"))
    expect(o.ok).toBe(true)
    expect(existsSync(lock)).toBe(false)
  })
})

describe("slurm-suspend", () => {
  it("destroys each node's VM and forgets it; a node without a VM is fine", async () => {
    const cloud = memCloud()
    const d = deps(cloud)
    await run(slurmResume(d, "c[1-2]"))
    const out = await run(slurmSuspend(d, "c[1-3]"))
    expect(out.map((o) => [o.node, o.ok, o.message])).toEqual([
      ["c1", true, "destroyed vm1"],
      ["c2", true, "destroyed vm2"],
      ["c3", true, "no VM recorded"]
    ])
    expect(cloud.destroyed.sort()).toEqual(["vm1", "vm2"])
    expect(cloud.live.size).toBe(0)
    expect(state(d)).toEqual({})
  })

  it("a VM the cloud will not destroy stays recorded and the node is reported failed", async () => {
    const cloud = memCloud()
    const d = deps(cloud)
    await run(slurmResume(d, "c1"))
    const stubborn: CloudService = { ...cloud, destroy: (i) => Effect.fail(new CloudError({ resource: i.cloud_resource, op: "destroy", kind: "api", message: "HTTP 503" })) }
    const d2 = { ...d, clouds: new Map([["r", stubborn]]) }
    const [o] = await run(slurmSuspend(d2, "c1"))
    expect(o).toMatchObject({ ok: false, message: "HTTP 503" })
    expect(Object.keys(state(d))).toEqual(["c1"])
  }, 20_000)
})
