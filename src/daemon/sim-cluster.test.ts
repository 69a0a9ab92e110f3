/**
 * `cluster: {type: simulated, scenario: FILE}` under --config: the scenario's
 * batch side is loaded (relative to the configuration file, every problem
 * named under cluster.scenario), its world follows the Clock, external nodes
 * join it and leave it when their VMs go; and the auth status of the clouds
 * for /server/status.
 */
import { it as effectIt } from "@effect/vitest"
import { Context, Effect, Either, Layer, TestClock } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { Cluster, CloudError, type CloudService } from "../engine/services.ts"
import { decodeConfig, engineSettings, type ConfigFile } from "../model/config.ts"
import { emptyInstance, InstanceState, NodeState, type Instance } from "../model/types.ts"
import { makeCloudHealth } from "./cloud-health.ts"
import { makeLogSink } from "./log.ts"
import { CloudWatch } from "./setup.ts"
import { loadBatchScenario, simulatedClusterLayer } from "./sim-cluster.ts"

const configOf = (raw: Record<string, unknown>): ConfigFile => {
  const r = decodeConfig(raw)
  if (Either.isLeft(r)) throw r.left
  return r.right.config
}
const simConfig = (scenario?: string) =>
  configOf({ cluster: { type: "simulated", ...(scenario !== undefined ? { scenario } : {}) }, cloud: { os: { type: "openstack", quantity: { max: 2 } } } })

const dir = () => mkdtempSync(join(tmpdir(), "dc-simcluster-"))

const BATCH = `
name: tiny
cluster:
  physical: {hostname: head1, cores: 1}
  scheduler_cycle: 1
workload:
  type: jobs
  jobs:
    - {id: a, submit: 0, cores: 1, runtime: 100}
    - {id: b, submit: 0, cores: 2, cpn: 2, runtime: 100}
`

describe("loadBatchScenario", () => {
  it("resolves a relative cluster.scenario against the configuration file's directory", () => {
    const d = dir()
    mkdirSync(join(d, "etc"))
    writeFileSync(join(d, "etc", "batch.yaml"), BATCH)
    const r = loadBatchScenario(simConfig("batch.yaml"), join(d, "etc", "dc.yaml"))
    if (Either.isLeft(r)) throw new Error(r.left.join("\n"))
    expect(r.right.path).toBe(join(d, "etc", "batch.yaml"))
    expect(r.right.name).toBe("tiny")
    expect(r.right.world.physical).toEqual([{ hostname: "head1", cores: 1 }])
    expect(r.right.world.jobs.map((j) => [j.id, j.cores, j.cpn])).toEqual([["a", 1, 0], ["b", 2, 2]])
    expect(r.right.world.schedulerCycle).toBe(1)
    expect(r.right.world.resources).toEqual([])
    expect(r.right.warnings).toEqual([])
  })

  it("names what is wrong: no scenario key, a missing file, a directory, a bad scenario", () => {
    const d = dir()
    expect(Either.getLeft(loadBatchScenario(simConfig(), join(d, "dc.yaml")))._tag).toBe("Some")
    expect(Either.flip(loadBatchScenario(simConfig(), join(d, "dc.yaml"))).pipe(Either.getOrThrow)[0]).toMatch(/^cluster\.scenario: is required with cluster\.type simulated/)
    const problems = (scenario: string) => Either.flip(loadBatchScenario(simConfig(scenario), join(d, "dc.yaml"))).pipe(Either.getOrThrow)
    expect(problems("nope.yaml")).toEqual([`cluster.scenario: scenario file not found: ${join(d, "nope.yaml")}`])
    expect(problems(".")).toEqual([`cluster.scenario: ${d} is a directory, not a scenario file`])
    writeFileSync(join(d, "bad.yaml"), "cluster: {physical: {cores: 0}}\n")
    const bad = problems("bad.yaml")
    const at = `cluster.scenario (${join(d, "bad.yaml")})`
    expect(bad).toContain(`${at}: workload: is required but missing`)
    expect(bad.some((p) => p.startsWith(`${at}: cluster.physical.0`))).toBe(true)
    writeFileSync(join(d, "syntax.yaml"), "workload: [\n")
    expect(problems("syntax.yaml")[0]).toMatch(/^cluster\.scenario \(.*syntax\.yaml\): YAML syntax error/)
    writeFileSync(join(d, "dup.yaml"), "cluster: {physical: [{hostname: n1, cores: 1}, {hostname: n1, cores: 2}]}\nworkload: {type: jobs, jobs: []}\n")
    expect(problems("dup.yaml")).toEqual([`cluster.scenario (${join(d, "dup.yaml")}): cluster.physical.1: host n1 is also defined by cluster.physical.0`])
  })

  it("takes an ordinary scenario file: its batch side is used, the simulated cloud is ignored with warnings", () => {
    const quickstart = fileURLToPath(new URL("../../scenarios/quickstart.yaml", import.meta.url))
    const r = loadBatchScenario(simConfig(quickstart))
    if (Either.isLeft(r)) throw new Error(r.left.join("\n"))
    expect(r.right.world.physical.map((p) => p.hostname)).toEqual(["node01", "node02"])
    expect(r.right.world.jobs.length).toBe(80)
    expect(r.right.seed).toBe(42)
    expect(r.right.warnings.join("\n")).toMatch(/config: not used under a live cloud/)
    expect(r.right.warnings.join("\n")).toMatch(/clouds: not used under a live cloud \(the live cloud resources of the configuration take its place\)/)
  })

  it("keeps batch_failure faults and ignores the cloud's", () => {
    const d = dir()
    writeFileSync(
      join(d, "f.yaml"),
      BATCH + "faults:\n  - {kind: batch_failure, at: 5, duration: 10}\n  - {kind: outage, resource: os, at: 1, duration: 5}\n"
    )
    const r = loadBatchScenario(simConfig(join(d, "f.yaml")))
    if (Either.isLeft(r)) throw new Error(r.left.join("\n"))
    expect(r.right.world.faults).toEqual([{ kind: "batch_failure", at: 5, duration: 10, mode: "fail" }])
    expect(r.right.warnings).toEqual([expect.stringMatching(/faults\.1: a outage fault acts on the simulated cloud or the scaler and is ignored/)])
  })
})

const instance = (name: string, state: InstanceState): Instance => ({
  ...emptyInstance("os", 0),
  uuid: `u-${name}`,
  instance_name: name,
  state,
  dns_name: name,
  ip: "10.0.0.1",
  vcpu_number: 2,
  last_task_result: 0
})

describe("the simulated batch system under a live cloud", () => {
  /** Let forked fibers run until they block on the (test) clock. */
  const settle = Effect.repeatN(Effect.yieldNow(), 50)

  effectIt.scoped("runs in Clock time; a VM joins, runs jobs, and leaves with them killed when it is destroyed", () =>
    Effect.gen(function* () {
      const d = dir()
      writeFileSync(join(d, "batch.yaml"), BATCH)
      const config = simConfig("batch.yaml")
      const lines: Array<any> = []
      const log = makeLogSink({ level: "debug", format: "json", out: (l) => lines.push(JSON.parse(l)) })
      const ctx = yield* Layer.build(simulatedClusterLayer({ config, settings: engineSettings(config), log, configPath: join(d, "dc.yaml") }))
      const cluster = Context.get(ctx, Cluster)
      const state = (host: string) => Effect.map(cluster.query, (v) => v.nodes.find((n) => n.hostname === host)?.state)
      yield* settle
      // t=0: both jobs queued; the scheduler's first pass is at t=1
      expect((yield* cluster.query).jobs.map((j) => j.jobid)).toEqual(["a", "b"])
      yield* TestClock.adjust("1 second")
      yield* settle
      expect((yield* cluster.query).jobs.map((j) => j.jobid)).toEqual(["b"])
      expect(yield* state("head1")).toBe(NodeState.Busy)
      // a VM of the live cloud joins with the cores the cloud reported; job b starts on it at the next pass
      yield* cluster.addNode({ hostname: "wn-abc", ip: "10.0.0.1", cores: 2, resource: "os", reservation: { queue: null, account: null, property: null }, instanceName: "wn-abc" })
      yield* TestClock.adjust("1 second")
      yield* settle
      const v = yield* cluster.query
      expect(v.jobs).toEqual([])
      expect(v.nodes.find((n) => n.hostname === "wn-abc")).toMatchObject({ state: NodeState.Busy, jobs: "b", num_proc: 2 })
      // the engine destroys its VM: the node leaves and its job dies with it
      const watch = Context.unsafeGet(ctx, CloudWatch)
      const cloud: CloudService = {
        list: () => Effect.succeed([]),
        boot: () => Effect.die("not used"),
        refresh: (i) => Effect.succeed(i),
        destroy: () => Effect.void,
        coresPerNode: () => Effect.succeed(2)
      }
      yield* watch(cloud).destroy(instance("wn-abc", InstanceState.Active))
      expect(yield* state("wn-abc")).toBe(undefined)
      const events = lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("simulated batch system: ")).map((l) => l.msg.slice(24))
      expect(events).toEqual(["physical", "submit", "submit", "start", "join", "start", "killed", "lost", "leave"])
      expect(lines.find((l) => l.msg === "simulated batch system: killed")).toMatchObject({ level: "info", job: "b", host: "wn-abc", cause: "destroy" })
    })
  )

  effectIt.scoped("a VM found in Error takes its node down; found gone, the node leaves", () =>
    Effect.gen(function* () {
      const d = dir()
      writeFileSync(join(d, "batch.yaml"), "workload: {type: jobs, jobs: []}\n")
      const config = simConfig(join(d, "batch.yaml"))
      const log = makeLogSink({ level: "error", format: "json", out: () => {} })
      const ctx = yield* Layer.build(simulatedClusterLayer({ config, settings: engineSettings(config), log }))
      const cluster = Context.get(ctx, Cluster)
      const state = (host: string) => Effect.map(cluster.query, (v) => v.nodes.find((n) => n.hostname === host)?.state)
      let answer: InstanceState = InstanceState.Error
      const cloud: CloudService = {
        list: () => Effect.succeed([]),
        boot: () => Effect.die("not used"),
        refresh: (i) => Effect.succeed({ ...i, state: answer }),
        destroy: () => Effect.void,
        coresPerNode: () => Effect.succeed(2)
      }
      const watched = Context.unsafeGet(ctx, CloudWatch)(cloud)
      yield* cluster.addNode({ hostname: "wn-x.example", ip: null, cores: 4, resource: "os", reservation: { queue: null, account: null, property: null }, instanceName: "wn-x" })
      expect(yield* state("wn-x.example")).toBe(NodeState.Idle)
      yield* watched.refresh(instance("wn-x", InstanceState.Active))
      expect(yield* state("wn-x.example")).toBe(NodeState.Error)
      answer = InstanceState.Inexistent
      yield* watched.refresh(instance("wn-x", InstanceState.Error))
      expect(yield* state("wn-x.example")).toBe(undefined)
    })
  )

  it("start-up fails with the scenario's problems in plain words", async () => {
    const config = simConfig("/no/such/batch.yaml")
    const log = makeLogSink({ level: "error", format: "json", out: () => {} })
    const r = await Effect.runPromise(Effect.scoped(Effect.flip(Layer.build(simulatedClusterLayer({ config, settings: engineSettings(config), log })))))
    expect(r.message).toBe("cluster.scenario: scenario file not found: /no/such/batch.yaml")
  })
})

describe("cloud auth status (GET /server/status in live mode)", () => {
  effectIt.effect("an auth refusal marks the resource until a call succeeds; other failures leave the mark alone", () =>
    Effect.gen(function* () {
      const lines: Array<any> = []
      const health = makeCloudHealth(makeLogSink({ level: "info", format: "json", out: (l) => lines.push(JSON.parse(l)) }))
      let fail: CloudError | null = null
      const cloud: CloudService = {
        list: () => (fail !== null ? Effect.fail(fail) : Effect.succeed([])),
        boot: () => Effect.die("not used"),
        refresh: (i) => Effect.succeed(i),
        destroy: () => Effect.void,
        coresPerNode: () => (fail !== null ? Effect.fail(fail) : Effect.succeed(2))
      }
      const os = health.watch("os", cloud)
      health.watch("aws", cloud)
      expect(health.view()).toEqual({ os: { auth: true, error: null, since: null }, aws: { auth: true, error: null, since: null } })
      yield* TestClock.adjust("10 seconds")
      fail = new CloudError({ resource: "os", op: "authenticate", kind: "auth", message: "Keystone at k:5000 refused the credentials of user demo" })
      yield* Effect.either(os.list("os"))
      yield* TestClock.adjust("5 seconds")
      yield* Effect.either(os.coresPerNode("os"))
      expect(health.view().os).toEqual({ auth: false, error: "authenticate: Keystone at k:5000 refused the credentials of user demo", since: 10 })
      fail = new CloudError({ resource: "os", op: "list", kind: "timeout", message: "no answer" })
      yield* Effect.either(os.list("os"))
      expect(health.view().os.auth).toBe(false)
      fail = null
      yield* os.list("os")
      expect(health.view().os).toEqual({ auth: true, error: null, since: null })
      expect(health.view().aws.auth).toBe(true)
      expect(lines.map((l) => [l.level, l.msg])).toEqual([
        ["error", expect.stringMatching(/^cloud resource os refuses the credentials \(authenticate: Keystone at k:5000 refused/)],
        ["info", "cloud resource os accepts the credentials again"]
      ])
    })
  )
})
