/**
 * The Cluster contract against the Torque/Maui layer on recorded outputs:
 * the real captures of ../shared/fixtures replayed by src/live/torque/testbin.
 * One recorded cluster serves all the tests (each test uses new host names);
 * starting a process costs ~40 ms here, and a first query asks Maui about
 * all 64 captured nodes.
 */
import { afterAll } from "vitest"
import { fixturesDir, haveTorqueFixtures, makeRecordedTorque, type RecordedTorque } from "../torque/testing.ts"
import { clusterContract, type ContractHarness } from "./cluster-contract.ts"

let shared: Promise<RecordedTorque> | null = null
afterAll(async () => {
  if (shared !== null) (await shared).close()
})

let seq = 0
const makeTorqueHarness = async (): Promise<ContractHarness> => {
  shared ??= makeRecordedTorque()
  const t = await shared
  return {
    cluster: t.cluster,
    newNode: async () => ({
      hostname: `cloud-${++seq}`,
      ip: "10.0.0.5",
      cores: 4,
      resource: "os",
      reservation: { queue: "batch", account: null, property: "cloud" },
      instanceName: `cloud-${seq}`
    }),
    runJobOn: async (host) => t.runJob(host),
    settle: async () => {},
    close: async () => {}
  }
}

clusterContract({
  name: "Torque/Maui on recorded outputs",
  skip: haveTorqueFixtures ? null : `${fixturesDir} is missing`,
  make: makeTorqueHarness,
  rounds: 3,
  timeoutMs: 30_000
})
