/**
 * The Torque/Maui layer end to end on recorded outputs: the command templates
 * point at ./testbin, which replays the real captures of ../shared/fixtures
 * and records every argument vector. Each operation is checked by the exact
 * argv it ran.
 */
import { Cause, Effect, Either, Exit } from "effect"
import { existsSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ClusterError } from "../../engine/services.ts"
import { parseConfigText, type ConfigFile } from "../../model/config.ts"
import { JobState, NodeState, type Reservation } from "../../model/types.ts"
import { TORQUE_DEFAULTS, torqueSettings } from "./layer.ts"
import { fixturesDir, haveTorqueFixtures, makeRecordedTorque, testbin, type RecordedTorque } from "./testing.ts"

if (!haveTorqueFixtures) console.warn(`[torque layer] skipping the recorded-output tests: ${fixturesDir} is missing`)

const run = <A>(eff: Effect.Effect<A, ClusterError>) => Effect.runPromise(eff)
const failure = async (eff: Effect.Effect<unknown, ClusterError>): Promise<ClusterError> => {
  const exit = await Effect.runPromiseExit(eff)
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const f = Cause.failureOption(exit.cause)
  if (f._tag === "None") throw new Error(`expected a ClusterError, got ${Cause.pretty(exit.cause)}`)
  expect(f.value).toBeInstanceOf(ClusterError)
  return f.value
}
const none: Reservation = { queue: null, account: null, property: null }
const newNode = (hostname: string, reservation: Reservation = none, cores = 4) => ({ hostname, ip: "10.1.2.3", cores, resource: "os", reservation, instanceName: hostname })

describe.skipIf(!haveTorqueFixtures)("Torque/Maui layer on the recorded outputs", () => {
  let t: RecordedTorque
  beforeAll(async () => {
    t = await makeRecordedTorque()
    t.takeArgv()
  })
  afterAll(() => t?.close())

  it("query: pbsnodes -x, qstat -x -t, diagnose -p and one checknode per node, mapped per SPEC §3", async () => {
    const t0 = Date.now() / 1000
    const view = await run(t.cluster.query)
    const argv = t.takeArgv()
    expect(argv.slice(0, 3)).toEqual([["pbsnodes", "-x"], ["qstat", "-x", "-t"], ["diagnose", "-p"]])
    const checks = argv.slice(3)
    expect(checks.every((a) => a.length === 2 && a[0] === "checknode")).toBe(true)
    expect(new Set(checks.map((a) => a[1])).size).toBe(64)
    // the 64 captured nodes: 54 free (n064 of them runs one job), 7 job-exclusive, 3 offline (Maui: drained)
    expect(view.nodes).toHaveLength(64)
    const count = (s: number) => view.nodes.filter((n) => n.state === s).length
    expect([count(NodeState.Idle), count(NodeState.Busy), count(NodeState.Held)]).toEqual([53, 8, 3])
    expect(view.nodes.find((n) => n.hostname === "n064")).toMatchObject({ state: NodeState.Busy, jobs: "0/1158579" })
    expect(view.nodes.filter((n) => n.state === NodeState.Held).map((n) => n.hostname)).toEqual(["n001", "n014", "n031"])
    const busy = view.nodes.find((n) => n.state === NodeState.Busy)!
    expect(busy.jobs).toBe("0/1158770,1/1158770,2/1158770,3/1158770,4/1158770,5/1158770,6/1158770,7/1158770")
    expect(busy.num_proc).toBe(8)
    // since = now − Maui's "in current state for 11:31:10"
    expect(busy.since).toBeGreaterThanOrEqual(t0 - 41470 - 1)
    expect(busy.since).toBeLessThanOrEqual(Date.now() / 1000 - 41470 + 1)
    // the capture's only queued job, in queue batch, ncpus=1, without a diagnose -p line (not yet eligible)
    expect(view.jobs.map((j) => [j.jobid, j.queue, j.state, j.requested_cores, j.cores_per_node, j.priority])).toEqual([
      ["667999", "batch", JobState.Queued, 1, 1, null]
    ])
    expect(await Effect.runPromise(t.cluster.status)).toEqual({ torque: true, maui: true })
  })

  it("a second query asks Maui again only about nodes whose pbsnodes entry changed or that are offline", async () => {
    await run(t.cluster.query)
    const argv = t.takeArgv()
    expect(argv.slice(0, 3)).toEqual([["pbsnodes", "-x"], ["qstat", "-x", "-t"], ["diagnose", "-p"]])
    expect(argv.slice(3).map((a) => a[1]).sort()).toEqual(["n001", "n014", "n031"])
  })

  it("addNode: create node, np, wait until Maui sees it, setres -q/-a, property, state = free", async () => {
    await run(t.cluster.addNode(newNode("cloud-1", { queue: "batch", account: "physics", property: "cloud" })))
    expect(t.takeArgv()).toEqual([
      ["qmgr", "-c", "create node cloud-1"],
      ["qmgr", "-c", "set node cloud-1 np = 4"],
      ["checknode", "cloud-1"], // Maui does not know it yet: retried
      ["checknode", "cloud-1"],
      ["setres", "-q", "batch", "cloud-1"],
      ["setres", "-a", "physics", "cloud-1"],
      ["qmgr", "-c", "set node cloud-1 properties = cloud"],
      ["qmgr", "-c", "set node cloud-1 state = free"]
    ])
    const view = await run(t.cluster.query)
    t.takeArgv()
    const n = view.nodes.find((x) => x.hostname === "cloud-1")!
    expect([n.state, n.num_proc, n.jobs, n.extra_attributes?.properties]).toEqual([NodeState.Idle, 4, null, "cloud"])
  })

  it("checkReservation: showres, then setres for what is missing (nothing when all is in place)", async () => {
    await run(t.cluster.checkReservation("cloud-1", { queue: "batch", account: "physics", property: "cloud" }))
    expect(t.takeArgv()).toEqual([
      ["showres", "-n"],
      ["pbsnodes", "-x", "cloud-1"]
    ])
    await run(t.cluster.checkReservation("cloud-1", { queue: "chem", account: "physics", property: "gpu" }))
    expect(t.takeArgv()).toEqual([
      ["showres", "-n"],
      ["setres", "-q", "chem", "cloud-1"],
      ["pbsnodes", "-x", "cloud-1"],
      ["qmgr", "-c", "set node cloud-1 properties = gpu"]
    ])
  })

  it("holdNode: pbsnodes -o; unholdNode: pbsnodes -c", async () => {
    await run(t.cluster.holdNode("cloud-1"))
    expect(t.takeArgv()).toEqual([["pbsnodes", "-o", "cloud-1"]])
    const held = (await run(t.cluster.query)).nodes.find((x) => x.hostname === "cloud-1")!
    expect(held.state).toBe(NodeState.Held)
    t.takeArgv()
    await run(t.cluster.unholdNode("cloud-1"))
    expect(t.takeArgv()).toEqual([["pbsnodes", "-c", "cloud-1"]])
    const back = (await run(t.cluster.query)).nodes.find((x) => x.hostname === "cloud-1")!
    expect(back.state).toBe(NodeState.Idle)
    t.takeArgv()
  })

  it("vacateNode: qsig -s 9 and qdel -p for each job (slot prefixes stripped, duplicates once)", async () => {
    const a = t.runJob("cloud-1", 2)
    const b = t.runJob("cloud-1", 1)
    const busy = (await run(t.cluster.query)).nodes.find((x) => x.hostname === "cloud-1")!
    expect(busy.state).toBe(NodeState.Busy)
    expect(busy.jobs).toBe(`0/${a},1/${a},2/${b}`)
    t.takeArgv()
    await run(t.cluster.vacateNode("cloud-1", busy.jobs!.split(",")))
    expect(t.takeArgv()).toEqual([
      ["qsig", "-s", "9", a],
      ["qdel", "-p", a],
      ["qsig", "-s", "9", b],
      ["qdel", "-p", b]
    ])
    const after = (await run(t.cluster.query)).nodes.find((x) => x.hostname === "cloud-1")!
    expect([after.state, after.jobs]).toEqual([NodeState.Idle, null])
    t.takeArgv()
  })

  it("removeNode: releaseres (classic back-quote template under /bin/sh), pbsnodes -o, wait for Maui, delete node", async () => {
    await run(t.cluster.removeNode("cloud-1", { queue: "chem", account: "physics", property: "gpu" }))
    const argv = t.takeArgv()
    // the template's shell runs showres | grep ... inside the back-quotes, then releaseres with the id it found
    expect(argv).toEqual([
      ["showres", "-n"],
      ["releaseres", "chem.2"],
      ["showres", "-n"],
      ["releaseres", "physics.1"],
      ["pbsnodes", "-o", "cloud-1"],
      ["checknode", "cloud-1"],
      ["qmgr", "-c", "delete node cloud-1"]
    ])
    const view = await run(t.cluster.query)
    expect(view.nodes.find((x) => x.hostname === "cloud-1")).toBeUndefined()
    t.takeArgv()
  })

  it("removeNode of a node Torque no longer knows succeeds without deleting anything", async () => {
    await run(t.cluster.removeNode("cloud-1", none))
    expect(t.takeArgv()).toEqual([["pbsnodes", "-o", "cloud-1"]])
  })

  it("a host name with shell syntax never reaches a command", async () => {
    for (const bad of ["x;touch /tmp/pwned-torque", "$(id)", "`id`", "-c", "a b"]) {
      await failure(t.cluster.holdNode(bad))
      await failure(t.cluster.addNode(newNode(bad)))
      await failure(t.cluster.removeNode(bad, none))
      await failure(t.cluster.vacateNode("n002", [bad]))
    }
    await failure(t.cluster.addNode(newNode("cloud-9", { queue: "q;rm", account: null, property: null })))
    expect(t.takeArgv()).toEqual([])
    expect(existsSync("/tmp/pwned-torque")).toBe(false)
  })

  it("an operation the recorded system refuses is a ClusterError naming the command and its stderr", async () => {
    const e = await failure(t.cluster.unholdNode("no-such-node"))
    expect(e.op).toBe("unhold node")
    expect(e.message).toContain("Unknown node")
    t.takeArgv()
  })
})

describe.skipIf(!haveTorqueFixtures)("Torque/Maui layer when the batch system fails", () => {
  let t: RecordedTorque
  beforeAll(async () => {
    t = await makeRecordedTorque({ clusterConfig: { add_node_timeout: 1, retry_interval: 0.2 }, mauiLag: 1000 })
  })
  afterAll(() => t?.close())

  it("pbs_server down: the query fails and the status says torque false", async () => {
    t.fault("torque-down", true)
    const e = await failure(t.cluster.query)
    expect(e.message).toContain("Connection refused")
    expect((await Effect.runPromise(t.cluster.status)).torque).toBe(false)
    t.fault("torque-down", false)
  })

  it("Maui down: the query fails (no half view) and the status says torque true, maui false", async () => {
    t.fault("maui-down", true)
    const e = await failure(t.cluster.query)
    expect(e.message).toContain("cannot connect to Maui")
    expect(await Effect.runPromise(t.cluster.status)).toEqual({ torque: true, maui: false })
    t.fault("maui-down", false)
    await run(t.cluster.query)
    expect(await Effect.runPromise(t.cluster.status)).toEqual({ torque: true, maui: true })
  })

  it("garbage from qstat is a ClusterError saying what could not be read", async () => {
    t.fault("garbage", true)
    const e = await failure(t.cluster.query)
    expect(e.message).toMatch(/cannot read the output of qstat: .*malformed XML/)
    t.fault("garbage", false)
  })

  it("a node Maui never sees: addNode gives up after add_node_timeout", async () => {
    const t0 = Date.now()
    const e = await failure(t.cluster.addNode(newNode("cloud-slow")))
    const took = (Date.now() - t0) / 1000
    expect(e.message).toMatch(/Maui knowing cloud-slow not reached within 1s|gave up after 1s/)
    expect(took).toBeLessThan(10)
  })
})

describe("Torque configuration", () => {
  it("the seed's templates load unchanged; absent keys take the SPEC §2 defaults", () => {
    const text = `
cluster:
  type: torque
  config:
    queue_to_monitor: [default]
    qstat_command: /usr/bin/qstat -x -t
    pbsnodes_command: /usr/bin/pbsnodes {0} {1}
    releaseres_command: "/usr/bin/releaseres \`/usr/bin/showres -n | grep User | grep {0} | grep {1} | awk '{{print $3}}' \`"
    showres_command: /usr/bin/showres -n | grep {0}
`
    const cfg = Either.getOrThrow(parseConfigText(text)).config
    const s = Either.getOrThrowWith(torqueSettings(cfg), (e) => new Error(e.message))
    expect(s.queue_to_monitor).toEqual(["default"])
    expect(s.add_node_command).toBe(TORQUE_DEFAULTS.add_node_command)
    expect(s.set_node_command).toBe('/usr/bin/qmgr -c "set node {0} {1} {2} {3}"')
    expect(s.releaseres_command).toBe(TORQUE_DEFAULTS.releaseres_command)
    expect([s.command_timeout, s.add_node_timeout, s.remove_node_timeout]).toEqual([60, 120, 120])
  })

  it("a wrong type or a broken template names the key", () => {
    const cfg = (config: Record<string, unknown>): ConfigFile =>
      Either.getOrThrow(parseConfigText(JSON.stringify({ cluster: { type: "torque", config } }))).config
    const bad = torqueSettings(cfg({ qstat_command: 5, add_node_timeout: "soon" }))
    expect(Either.isLeft(bad)).toBe(true)
    const problems = Either.isLeft(bad) ? bad.left.problems.join("\n") : ""
    expect(problems).toContain("cluster.config.qstat_command: expected a command template (a string), got 5")
    expect(problems).toContain('cluster.config.add_node_timeout: expected a positive number (seconds), got "soon"')
    const broken = torqueSettings(cfg({ setres_command: "/usr/bin/setres {0} {x}" }))
    expect(Either.isLeft(broken) && broken.left.problems[0]).toMatch(/^cluster.config.setres_command: only numbered placeholders/)
  })

  it("the test scripts exist and are executable", () => {
    for (const c of ["qmgr", "pbsnodes", "qstat", "checknode", "diagnose", "showres", "setres", "releaseres", "qsig", "qdel"]) {
      expect(existsSync(`${testbin}/${c}`)).toBe(true)
    }
  })
})
