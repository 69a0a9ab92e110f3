/**
 * The Cluster contract against the SGE layer on the real Grid Engine of
 * ci/setup-20-sge.sh. Nodes are exec hosts in network namespaces
 * (ci/sge/sge-node.sh): booted by newNode, their execd started at
 * contextualisation (after instanceActive declared them), destroyed at the
 * end of each test. The suite has its own queue, so it runs beside the other
 * Grid Engine suites. Skips visibly without Grid Engine; fails when CI=true.
 */
import { Effect, Either } from "effect"
import { availableParallelism } from "node:os"
import { afterAll } from "vitest"
import type { ClusterService } from "../../engine/services.ts"
import { makeSgeClusterService, sgeSettings } from "../sge/layer.ts"
import { forgetHost, hostName, liveJobs, machine, makeSgeTestbed, qdel, qsub, sgeMissing, sleep, type SgeTestbed } from "../sge/testing.ts"
import { clusterContract, type ContractHarness } from "./cluster-contract.ts"

const missing = sgeMissing()
const mustRun = process.env.CI === "true"

let tb: SgeTestbed | null = null
/** One service for the whole file (its parallel-environment cache stays warm); each test uses new host names. */
let cluster: ClusterService | null = null
afterAll(() => tb?.close(), 60_000)

let seq = 0
const makeSgeHarness = async (): Promise<ContractHarness> => {
  if (missing !== null) throw new Error(`Grid Engine is missing in CI: ${missing}`)
  tb ??= makeSgeTestbed("dccon")
  const bed = tb
  cluster ??= Effect.runSync(makeSgeClusterService(Either.getOrThrowWith(sgeSettings(bed.config()), (e) => new Error(e.message))))
  const hosts: Array<string> = []
  const jobs: Array<string> = []
  return {
    cluster: cluster,
    newNode: async () => {
      const hostname = hostName("dcc", ++seq)
      hosts.push(hostname)
      machine.vm(hostname)
      return { hostname, ip: null, cores: availableParallelism(), resource: "sge-contract", reservation: { queue: bed.queue, account: null, property: null }, instanceName: hostname }
    },
    contextualise: async (nn) => {
      machine.execd(nn.hostname)
    },
    runJobOn: async (host) => {
      const id = qsub({ queue: `${bed.queue}@${host}`, seconds: 600, name: "contract" })
      jobs.push(id)
      return id
    },
    settle: () => sleep(300),
    close: async () => {
      qdel(jobs.filter((j) => liveJobs().has(j)))
      for (const h of hosts) forgetHost(h, bed.group)
    }
  }
}

clusterContract({
  name: "Grid Engine (real SGE 8.1.9)",
  // In CI a missing Grid Engine must fail the suite (make() throws), not skip it.
  skip: missing !== null && !mustRun ? missing : null,
  make: makeSgeHarness,
  rounds: 60,
  timeoutMs: 60_000
})
