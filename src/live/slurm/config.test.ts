import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { parseConfigText } from "../../model/config.ts"
import { decodeSlurmConfig, nodeFeatures, reservationName, SLURM_DEFAULTS, slurmSettings, unknownSlurmKeys } from "./config.ts"

const right = <A, E>(e: Either.Either<A, E>): A => Either.getOrThrowWith(e, (err) => new Error(`expected Right, got ${JSON.stringify(err)}`))
const problems = <A>(e: Either.Either<A, { problems: ReadonlyArray<string> }>) =>
  Either.match(e, { onLeft: (l) => l.problems, onRight: () => [] as ReadonlyArray<string> })

describe("Slurm cluster.config", () => {
  it("has working defaults", () => {
    const s = right(decodeSlurmConfig(undefined))
    expect(s.squeue_command).toBe("squeue --json")
    expect(s.sinfo_command).toBe("sinfo --json")
    expect(s.create_node_command).toBe(SLURM_DEFAULTS.create_node_command)
    expect(s).toMatchObject({ dynamic_feature: "dyncluster", reservation_prefix: "dyncluster_", mode: "dynamic", queue_to_monitor: [] })
  })

  it("names the key of every problem", () => {
    const p = problems(
      decodeSlurmConfig({ squeue_command: 3, sinfo_command: "sinfo {x}", command_timeout: -1, dynamic_feature: "a b", power_save_nodes: { r: "c[1-" } })
    )
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^cluster\.config\.squeue_command: expected a command template/),
        expect.stringMatching(/^cluster\.config\.command_timeout: expected a positive number/),
        expect.stringMatching(/^cluster\.config\.dynamic_feature: expected a Slurm name/)
      ])
    )
    const p2 = problems(decodeSlurmConfig({ sinfo_command: "sinfo {x}", power_save_nodes: { r: "c[1-" } }))
    expect(p2).toEqual([
      expect.stringMatching(/^cluster\.config\.sinfo_command: only numbered placeholders/),
      expect.stringMatching(/^cluster\.config\.power_save_nodes\.r: .*unclosed/)
    ])
  })

  it("power_save: nodes map to known resources, once each, and must be given", () => {
    const s = right(decodeSlurmConfig({ power_save_nodes: { os: "cloud[1-3]", aws: "gpu1" } }, { mode: "power_save", resources: ["os", "aws"] }))
    expect(Object.fromEntries(s.powerSaveNodes)).toEqual({ cloud1: "os", cloud2: "os", cloud3: "os", gpu1: "aws" })
    expect(problems(decodeSlurmConfig({ power_save_nodes: { nope: "c1" } }, { resources: ["os"] }))).toEqual([
      "cluster.config.power_save_nodes.nope: no cloud resource of that name (known: os)"
    ])
    expect(problems(decodeSlurmConfig({ power_save_nodes: { a: "c[1-2]", b: "c2" } }, { resources: ["a", "b"] }))).toEqual([
      "cluster.config.power_save_nodes: node c2 is listed for both a and b"
    ])
    expect(problems(decodeSlurmConfig({}, { mode: "power_save" }))[0]).toMatch(/cluster.mode is power_save but no resource lists its Slurm nodes/)
  })

  it("reads cluster.mode and queue_to_monitor from a whole file", () => {
    const cfg = right(
      parseConfigText(`
cluster:
  type: slurm
  mode: power_save
  config:
    queue_to_monitor: [dyn]
    power_save_nodes: {os: "cloud[1-2]"}
    squeue_commnd: typo
cloud:
  os: {type: openstack, quantity: {max: 2}}
`)
    ).config
    const s = right(slurmSettings(cfg))
    expect(s.mode).toBe("power_save")
    expect(s.queue_to_monitor).toEqual(["dyn"])
    expect(unknownSlurmKeys(cfg.cluster.config)).toEqual(["cluster.config.squeue_commnd: unknown key for cluster type slurm, ignored"])
    expect(Either.isLeft(parseConfigText("cluster: {type: slurm, mode: sometimes}"))).toBe(true)
  })

  it("maps a reservation to node features and reservation names", () => {
    const s = right(decodeSlurmConfig({ partition_features: { gpuq: "gpunodes" } }))
    expect(nodeFeatures(s, { queue: null, property: null })).toEqual(["dyncluster"])
    expect(nodeFeatures(s, { queue: "dynq", property: null })).toEqual(["dynq"])
    expect(nodeFeatures(s, { queue: "gpuq", property: "a100" })).toEqual(["gpunodes", "a100"])
    expect(nodeFeatures(s, { queue: null, property: "bigmem" })).toEqual(["dyncluster", "bigmem"])
    expect(reservationName(s, "physics")).toBe("dyncluster_physics")
  })
})
