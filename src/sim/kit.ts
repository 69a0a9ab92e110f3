/**
 * Building scenarios in code (tests, benchmarks, property generators). The
 * scenario files of the testbed decode into the same SimScenario.
 */
import { Either } from "effect"
import type { Billing } from "../model/billing.ts"
import { decodeConfig, type ConfigFile } from "../model/config.ts"
import type { Distribution } from "./random.ts"
import type { SimScenario } from "./run.ts"
import type { WorkloadJob } from "./workload.ts"
import type { FaultSpec, SimPhysicalNode, SimResourceSpec, WorldSpec } from "./world.ts"

export interface KitResource {
  readonly name: string
  readonly min?: number
  readonly max: number
  readonly priority?: number
  readonly cores?: number
  readonly reservation?: { queue?: string | null; account?: string | null; property?: string | null }
  readonly bootTime?: Distribution
  readonly configTime?: Distribution
  readonly bootFailureRate?: number
  readonly quota?: number | null
  readonly apiErrorRate?: number
  readonly destroyTime?: number
  readonly price?: number | null
  /** Spot instances (the spot_interruption fault can take them back). */
  readonly spot?: boolean
  /** `cloud.<name>.billing` (in the configuration, where policies read it, and in the simulated cloud's books). */
  readonly billing?: Billing
}

export interface KitScenario {
  readonly name?: string
  readonly seed?: number
  readonly resources: ReadonlyArray<KitResource>
  readonly physical?: ReadonlyArray<SimPhysicalNode>
  readonly jobs?: ReadonlyArray<Partial<WorkloadJob> & Pick<WorkloadJob, "submit" | "runtime">>
  readonly faults?: ReadonlyArray<FaultSpec>
  /** Extra keys for the `dynamic-cluster` section (raw config format). */
  readonly settings?: Record<string, unknown>
  readonly clusterConfig?: Record<string, unknown>
  readonly schedulerCycle?: number
  readonly drain?: number
  readonly maxTime?: number | null
  readonly apiLatency?: number
}

export const kitJob = (j: Partial<WorkloadJob> & Pick<WorkloadJob, "submit" | "runtime">, i: number): WorkloadJob => ({
  id: j.id ?? `j${i + 1}`,
  submit: j.submit,
  cores: j.cores ?? 1,
  cpn: j.cpn ?? Math.min(j.cores ?? 1, 1),
  runtime: j.runtime,
  walltime: j.walltime ?? null,
  queue: j.queue ?? "default",
  account: j.account ?? null,
  property: j.property ?? null,
  priority: j.priority ?? 0
})

/** The configuration (real format) for a kit scenario; throws on a bad kit (a test bug). */
export const kitConfig = (k: KitScenario): ConfigFile => {
  const raw = {
    "dynamic-cluster": { ...k.settings },
    cluster: { type: "simulated", config: { queued_job_number_to_display: 0, ...k.clusterConfig } },
    cloud: Object.fromEntries(
      k.resources.map((r) => [
        r.name,
        {
          type: "simulated",
          priority: r.priority ?? 1,
          quantity: { min: r.min ?? 0, max: r.max },
          reservation: { queue: null, account: null, property: null, ...r.reservation },
          config: { instance_name_prefix: r.name },
          ...(r.billing !== undefined ? { billing: r.billing } : {})
        }
      ])
    )
  }
  const d = decodeConfig(raw, "kit scenario")
  if (Either.isLeft(d)) throw d.left
  return d.right.config
}

export const kitResource = (r: KitResource): SimResourceSpec => ({
  name: r.name,
  cores: r.cores ?? 4,
  prefix: r.name,
  bootTime: r.bootTime ?? { type: "constant", value: 120 },
  configTime: r.configTime ?? { type: "constant", value: 30 },
  bootFailureRate: r.bootFailureRate ?? 0,
  quota: r.quota ?? null,
  apiErrorRate: r.apiErrorRate ?? 0,
  destroyTime: r.destroyTime ?? 10,
  price: r.price ?? null,
  ...(r.spot === true ? { spot: true } : {}),
  ...(r.billing !== undefined ? { billing: r.billing } : {})
})

export const kitScenario = (k: KitScenario): SimScenario => {
  const world: WorldSpec = {
    physical: k.physical ?? [],
    resources: k.resources.map(kitResource),
    jobs: (k.jobs ?? []).map(kitJob).sort((a, b) => a.submit - b.submit),
    faults: k.faults ?? [],
    schedulerCycle: k.schedulerCycle ?? 10,
    drain: k.drain ?? 3600,
    maxTime: k.maxTime ?? null
  }
  return {
    name: k.name ?? "kit",
    seed: k.seed ?? 1,
    config: kitConfig(k),
    world,
    ...(k.apiLatency !== undefined ? { apiLatency: k.apiLatency } : {})
  }
}
