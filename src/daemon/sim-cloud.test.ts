/**
 * `cloud.<res>: {type: simulated}` under --config: the behaviour is decoded
 * with a scenario's clouds.<res> schema (inline, or from a scenario file
 * relative to the configuration file), problems name their key path, and the
 * VMs boot, fail and go away in Clock time.
 */
import { it as effectIt } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { execa } from "execa"
import { describe, expect, it } from "vitest"
import { decodeConfig, engineSettings, type ConfigFile } from "../model/config.ts"
import { InstanceState } from "../model/types.ts"
import { makeLogSink } from "./log.ts"
import { missingLayers } from "./live.ts"
import { liveRegistry } from "./registry.ts"
import { runDaemon } from "./main.ts"
import { loadSimCloud, simulatedCloudService } from "./sim-cloud.ts"
import { BIN, REPO } from "./testing/process.ts"

const configOf = (raw: Record<string, unknown>): ConfigFile => {
  const r = decodeConfig(raw)
  if (Either.isLeft(r)) throw r.left
  return r.right.config
}
const withCloud = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  configOf({ cluster: { type: "sge" }, cloud: { sim: { type: "simulated", quantity: { max: 3 }, config, ...extra } } })
const load = (config: Record<string, unknown>, configPath?: string, extra: Record<string, unknown> = {}) =>
  loadSimCloud("sim", withCloud(config, extra).cloud.sim, configPath)
const problemsOf = (r: ReturnType<typeof load>) => (Either.isLeft(r) ? r.left : [`no problem: ${JSON.stringify(r.right)}`])

describe("loadSimCloud", () => {
  it("takes the behaviour inline, with the scenario defaults for what is not given", () => {
    const r = load({ instance_name_prefix: "wn", cores: 4, boot_time: { type: "uniform", min: 2, max: 4 }, quota: 2, destroy_time: 1 })
    if (Either.isLeft(r)) throw new Error(r.left.join("\n"))
    expect(r.right.spec).toEqual({
      name: "sim",
      cores: 4,
      prefix: "wn",
      bootTime: { type: "uniform", min: 2, max: 4 },
      configTime: { type: "constant", value: 30 },
      bootFailureRate: 0,
      quota: 2,
      apiErrorRate: 0,
      destroyTime: 1,
      price: null
    })
    expect(r.right.seed).toBe(1)
    expect(r.right.source).toBe("cloud.sim.config")
    expect(r.right.warnings).toEqual([])
  })

  it("names the key path of every problem", () => {
    expect(problemsOf(load({}))).toEqual(["cloud.sim.config.cores: is required but missing"])
    expect(
      problemsOf(
        load({ instance_name_prefix: "a b", seed: 1.5, cores: "four", boot_time: { type: "lognormal", median: -1, sigma: 0.3 }, boot_failure_rate: 2, quota: -1 })
      )
    ).toEqual([
      `cloud.sim.config.instance_name_prefix: expected the start of a host name (letters, digits, '.', '-'), got "a b"`,
      "cloud.sim.config.seed: expected an integer, got 1.5",
      'cloud.sim.config.cores: expected a positive integer, got "four"',
      "cloud.sim.config.boot_time.median: expected a positive number, got -1",
      "cloud.sim.config.boot_failure_rate: expected a probability between 0 and 1, got 2",
      "cloud.sim.config.quota: expected a non-negative integer, got -1"
    ])
  })

  it("warns about unknown keys and about keys that mean nothing under --config", () => {
    const r = load({ cores: 2, boot_tme: 5, config_time: 10, price: 0.5 })
    if (Either.isLeft(r)) throw new Error(r.left.join("\n"))
    expect(r.right.warnings).toEqual([
      "cloud.sim.config.boot_tme: unknown key, ignored",
      "cloud.sim.config.config_time: not used under --config: a VM is Ready when the configured config-checker says so (none: as soon as it is Active)",
      "cloud.sim.config.price: not used under --config: the price the policies read is cloud.sim.price"
    ])
  })

  it("takes clouds.<res> of a scenario file, relative to the configuration file's directory, and the file's seed", () => {
    const d = mkdtempSync(join(tmpdir(), "dc-simcloud-"))
    mkdirSync(join(d, "etc"))
    writeFileSync(join(d, "etc", "clouds.yaml"), "seed: 7\nclouds:\n  sim: {cores: 8, boot_time: {type: constant, value: 3}, api_error_rate: 0.1}\n  other: {cores: 1}\nworkload: {type: jobs, jobs: []}\n")
    const r = load({ scenario: "clouds.yaml", instance_name_prefix: "x" }, join(d, "etc", "dc.yaml"))
    if (Either.isLeft(r)) throw new Error(r.left.join("\n"))
    expect(r.right.spec).toMatchObject({ name: "sim", cores: 8, prefix: "x", bootTime: { type: "constant", value: 3 }, apiErrorRate: 0.1 })
    expect(r.right.seed).toBe(7)
    expect(r.right.source).toBe(join(d, "etc", "clouds.yaml"))
    // an explicit seed wins
    const s = load({ scenario: join(d, "etc", "clouds.yaml"), seed: 3 })
    expect(Either.isRight(s) && s.right.seed).toBe(3)

    const file = join(d, "etc", "clouds.yaml")
    expect(problemsOf(load({ scenario: "nope.yaml" }, join(d, "etc", "dc.yaml")))).toEqual([`cloud.sim.config.scenario: scenario file not found: ${join(d, "etc", "nope.yaml")}`])
    expect(problemsOf(load({ scenario: file, cores: 2, quota: 1 }))).toEqual([
      "cloud.sim.config: give either scenario (the behaviour of clouds.sim in that file) or the behaviour inline (cores, quota), not both"
    ])
    writeFileSync(join(d, "bad.yaml"), "clouds:\n  sim: {cores: 0, destroy_time: -1}\n  os: {cores: 1}\n")
    expect(problemsOf(load({ scenario: join(d, "bad.yaml") }))).toEqual([
      `cloud.sim.config.scenario (${join(d, "bad.yaml")}): clouds.sim.cores: expected a positive integer, got 0`,
      `cloud.sim.config.scenario (${join(d, "bad.yaml")}): clouds.sim.destroy_time: expected a non-negative number (seconds), got -1`
    ])
    const other = loadSimCloud("aws", configOf({ cluster: { type: "sge" }, cloud: { aws: { type: "simulated", quantity: { max: 1 }, config: { scenario: join(d, "bad.yaml") } } } }).cloud.aws)
    expect(problemsOf(other)).toEqual([`cloud.aws.config.scenario (${join(d, "bad.yaml")}): clouds.aws: is required but missing (the file describes clouds sim, os)`])
  })

  it("is a live cloud type under --config, except when the batch system is simulated too", () => {
    expect(missingLayers(withCloud({ cores: 1 }), liveRegistry)).toEqual([])
    const both = configOf({ cluster: { type: "simulated", scenario: "b.yaml" }, cloud: { r1: { type: "simulated", quantity: { max: 1 } } } })
    expect(missingLayers(both, liveRegistry)).toEqual([
      "cloud type simulated (resource r1) with cluster type simulated: when both the batch system and the cloud are simulated, run the whole simulation with `dyncluster run --sim SCENARIO`"
    ])
  })
})

describe("the simulated cloud under --config", () => {
  /** Let forked fibers run until they block on the (test) clock. */
  const settle = Effect.repeatN(Effect.yieldNow(), 50)
  const setupOf = (config: ConfigFile, lines: Array<any> = []) => ({
    config,
    settings: engineSettings(config),
    log: makeLogSink({ level: "debug", format: "json", out: (l) => lines.push(JSON.parse(l)) })
  })

  effectIt.scoped("boots to Active after boot_time and is gone destroy_time after a destroy, in Clock time; names carry the prefix; no made-up address", () =>
    Effect.gen(function* () {
      const config = withCloud({ instance_name_prefix: "dcsim", cores: 4, boot_time: 10, destroy_time: 3, quota: 1 })
      const lines: Array<any> = []
      const cloud = yield* simulatedCloudService("sim", config.cloud.sim, setupOf(config, lines))
      expect(yield* cloud.coresPerNode("sim")).toBe(4)
      yield* TestClock.adjust("100 seconds")
      const booted = yield* cloud.boot("sim")
      expect(booted).toMatchObject({ instance_name: "dcsim-00001", cloud_resource: "sim", state: InstanceState.Pending, vcpu_number: 4, ip: null, creation_time: 100 })
      // the quota counts the instance from its boot request
      expect((yield* Effect.flip(cloud.boot("sim"))).kind).toBe("quota")
      yield* TestClock.adjust("3 seconds")
      yield* settle
      expect((yield* cloud.refresh(booted)).state).toBe(InstanceState.Starting)
      yield* TestClock.adjust("6 seconds")
      yield* settle
      expect((yield* cloud.refresh(booted)).state).toBe(InstanceState.Starting)
      yield* TestClock.adjust("1 second")
      yield* settle
      const active = yield* cloud.refresh(booted)
      expect(active).toMatchObject({ state: InstanceState.Active, dns_name: "dcsim-00001", ip: null })
      expect((yield* cloud.list("sim")).map((i) => i.instance_name)).toEqual(["dcsim-00001"])
      yield* cloud.destroy(active)
      expect((yield* cloud.refresh(active)).state).toBe(InstanceState.Deleting)
      yield* TestClock.adjust("3 seconds")
      yield* settle
      expect((yield* cloud.refresh(active)).state).toBe(InstanceState.Inexistent)
      expect(yield* cloud.list("sim")).toEqual([])
      const events = lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("simulated cloud sim: "))
      expect(events.map((l) => [l.level, l.msg.slice("simulated cloud sim: ".length), l.sim_time])).toEqual([
        ["info", "boot", 100],
        ["info", "boot_failed", 100],
        ["info", "active", 110],
        ["info", "terminate", 110],
        ["info", "gone", 113]
      ])
    })
  )

  effectIt.scoped("boot failures and API errors follow the configured rates", () =>
    Effect.gen(function* () {
      const config = withCloud({ cores: 1, boot_time: 1, boot_failure_rate: 1 })
      const cloud = yield* simulatedCloudService("sim", config.cloud.sim, setupOf(config))
      const i = yield* cloud.boot("sim")
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect((yield* cloud.refresh(i)).state).toBe(InstanceState.Error)
      const flaky = withCloud({ cores: 1, api_error_rate: 1 })
      const down = yield* simulatedCloudService("sim", flaky.cloud.sim, setupOf(flaky))
      expect(yield* Effect.flip(down.list("sim"))).toMatchObject({ kind: "api", op: "list", resource: "sim" })
    })
  )

  it("start-up fails with every problem, named by key path", async () => {
    const config = withCloud({ cores: 0, boot_time: "slow" })
    const e = await Effect.runPromise(Effect.scoped(Effect.flip(simulatedCloudService("sim", config.cloud.sim, setupOf(config)))))
    expect(e.message.split("\n")).toEqual([
      "cloud.sim.config.cores: expected a positive integer, got 0",
      expect.stringMatching(/^cloud\.sim\.config\.boot_time: expected a number or a distribution .*, got "slow"$/)
    ])
  })
})

describe("dyncluster check-config", () => {
  it("checks a simulated cloud section as start-up would: problems by key path, warnings, the scenario file relative to the configuration", async () => {
    const d = mkdtempSync(join(tmpdir(), "dc-simcloud-cc-"))
    writeFileSync(join(d, "clouds.yaml"), "clouds:\n  b: {cores: 2, config_time: 5}\n")
    writeFileSync(
      join(d, "dc.yaml"),
      "cluster: {type: sge}\ncloud:\n  a: {type: simulated, quantity: {max: 2}, config: {cores: 0, boot_time: {type: uniform, min: 1}}}\n  b: {type: simulated, quantity: {max: 2}, config: {scenario: clouds.yaml}}\n"
    )
    const r = await execa(process.execPath, [BIN, "check-config", join(d, "dc.yaml")], { cwd: REPO, reject: false })
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toContain(`warning: cloud.b.config.scenario (${join(d, "clouds.yaml")}): clouds.b.config_time: not used under --config`)
    expect(r.stderr).toContain("  - cloud.a.config.cores: expected a positive integer, got 0\n  - cloud.a.config.boot_time.max: is required but missing")
  }, 60_000)

  it("dyncluster run --config stops at start-up with the same problems", async () => {
    const d = mkdtempSync(join(tmpdir(), "dc-simcloud-run-"))
    writeFileSync(join(d, "dc.yaml"), "cluster: {type: sge}\ncloud:\n  a: {type: simulated, quantity: {max: 2}, config: {cores: 0, quota: many}}\n")
    const message = await Effect.runPromise(Effect.flip(runDaemon({ config: join(d, "dc.yaml"), port: 0 }))).then((e) => e.message)
    expect(message).toBe("cloud resource a: cloud.a.config.cores: expected a positive integer, got 0\ncloud.a.config.quota: expected a non-negative integer, got \"many\"")
  })
})
