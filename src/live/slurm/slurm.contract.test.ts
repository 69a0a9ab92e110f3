/**
 * The Cluster contract (src/live/contract/cluster-contract.ts) against the
 * Slurm layer on the real Slurm 22.05 of ci/setup-30-slurm.sh. Each new node
 * is a VM (network namespace) whose slurmd -Z registers the dynamic node
 * addNode creates; the suite has its own partition (dyncon) and node names
 * (dcc*), so it runs beside the other Slurm suites. Skips visibly without
 * Slurm; fails when CI=true.
 */
import { Effect, Either } from "effect"
import { afterAll } from "vitest"
import type { ClusterService } from "../../engine/services.ts"
import { clusterContract, type ContractHarness } from "../contract/cluster-contract.ts"
import { makeSlurmClusterService } from "./cluster.ts"
import { decodeSlurmConfig } from "./config.ts"
import { cleanupSlurm, sbatch, scancel, slurmEnv, slurmMissing, startVm, stopVm } from "./testing/env.ts"

const PREFIX = "dcc"
const missing = slurmMissing()
const mustRun = process.env.CI === "true"

let cluster: ClusterService | null = null
let seq = 0
afterAll(() => {
  if (missing === null) cleanupSlurm({ prefix: PREFIX })
})

const makeSlurmHarness = async (): Promise<ContractHarness> => {
  if (missing !== null) throw new Error(`Slurm is missing in CI: ${missing}`)
  if (cluster === null) {
    if (seq === 0) cleanupSlurm({ prefix: PREFIX })
    const settings = Either.getOrThrowWith(
      decodeSlurmConfig({ dynamic_feature: "dyncon", poll_interval: 0.3, register_timeout: 30, drain_timeout: 30 }, { queueToMonitor: ["dyncon"] }),
      (e) => new Error(e.message)
    )
    cluster = Effect.runSync(makeSlurmClusterService(settings, { env: slurmEnv }))
  }
  const vms: Array<string> = []
  const jobs: Array<string> = []
  return {
    cluster,
    newNode: async () => {
      const hostname = `${PREFIX}${++seq}`
      vms.push(hostname)
      const ip = startVm(hostname, "dynamic", hostname)
      return { hostname, ip, cores: 2, resource: "slurm-contract", reservation: { queue: null, account: null, property: null }, instanceName: hostname }
    },
    runJobOn: async (host) => {
      const id = sbatch(["-p", "dyncon", "-w", host, "--wrap", "sleep 600"])
      jobs.push(id)
      return id
    },
    settle: () => new Promise((r) => setTimeout(r, 300)),
    close: async () => {
      scancel(jobs)
      for (const v of vms) stopVm(v)
      cleanupSlurm({ prefix: PREFIX })
    }
  }
}

clusterContract({
  name: "Slurm (real Slurm 22.05, dynamic nodes)",
  // In CI a missing Slurm must fail the suite (make() throws), not skip it.
  skip: missing !== null && !mustRun ? missing : null,
  make: makeSlurmHarness,
  rounds: 60,
  timeoutMs: 60_000
})
