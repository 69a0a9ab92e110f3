/**
 * The Cluster contract against the simulated batch system (src/sim/layers.ts
 * simClusterService over a SimWorld), in virtual time.
 */
import { kitJob, kitResource } from "../../sim/kit.ts"
import { simClusterService } from "../../sim/layers.ts"
import { makeRng } from "../../sim/random.ts"
import { SimWorld } from "../../sim/world.ts"
import { clusterContract, type ContractHarness } from "./cluster-contract.ts"

const EPOCH = 1_700_000_000
/** When the job that runJobOn places is submitted (the harness stays before it until asked). */
const JOB_AT = 10_000
const CYCLE = 10

const makeSimHarness = async (): Promise<ContractHarness> => {
  const world = new SimWorld(
    {
      // A physical node kept busy by a long job: the view has a node from the start,
      // and the harness's job can only go to the node under test.
      physical: [{ hostname: "phys1", cores: 1 }],
      resources: [kitResource({ name: "res", max: 4, cores: 2, bootTime: { type: "constant", value: 20 }, configTime: { type: "constant", value: 0 } })],
      jobs: [
        kitJob({ id: "blocker", submit: 0, runtime: 1e9, cores: 1, cpn: 1 }, 0),
        kitJob({ id: "v1", submit: JOB_AT, runtime: 1e9, cores: 1, cpn: 1 }, 1)
      ],
      faults: [],
      schedulerCycle: CYCLE,
      drain: 0,
      maxTime: null
    },
    makeRng(1),
    () => {}
  )
  const advanceTo = (t: number) => {
    while (world.nextEventTime() <= t) world.processEventsAt(world.nextEventTime())
    world.now = Math.max(world.now, t)
  }
  advanceTo(CYCLE) // the blocker starts on phys1
  return {
    cluster: simClusterService(world, EPOCH),
    newNode: async () => {
      const inst = world.boot("res")
      if ("kind" in inst) throw new Error(`sim boot failed: ${inst.message}`)
      advanceTo(Math.min(world.now + 30, JOB_AT - 1))
      return {
        hostname: inst.name,
        ip: null,
        cores: inst.cores,
        resource: "res",
        reservation: { queue: null, account: null, property: null },
        instanceName: inst.name
      }
    },
    runJobOn: async (host) => {
      advanceTo(JOB_AT + CYCLE)
      const where = world.nodes.get(host)?.jobs
      if (where === undefined || !where.has("v1")) throw new Error(`sim: job v1 did not start on ${host}`)
      return "v1"
    },
    settle: async () => advanceTo(world.now + CYCLE),
    close: async () => {}
  }
}

clusterContract({ name: "simulated (SimWorld)", skip: null, make: makeSimHarness, rounds: 5, timeoutMs: 10_000 })
