/**
 * Which live layer serves which type name of the configuration. The live
 * batch-system layers (cluster.type: torque, sge, slurm), cloud layers
 * (cloud.<res>.type: openstack, aws, simulated) and configuration checkers
 * (dynamic-cluster.config-checker) plug in here, one line each, e.g.
 *
 *     torque: (setup) => torqueClusterLayer(setup.config),
 *
 * A type that is not listed makes `dyncluster run --config` stop with
 * "cluster type X not available yet" (or cloud type / config checker).
 */
import type { CheckerConfig } from "../model/config.ts"
import { makeSgeCluster } from "../live/sge/layer.ts"
import { makeTorqueCluster } from "../live/torque/layer.ts"
import { makeSlurmCluster } from "../live/slurm/cluster.ts"
import { registryCheckerKinds } from "../live/checkers.ts"
import { registryCloudTypes } from "../live/cloud.ts"
import { simulatedCloudService } from "./sim-cloud.ts"
import { simulatedClusterLayer } from "./sim-cluster.ts"
import type { CheckerFactory, ClusterLayerFactory, CloudServiceFactory } from "./setup.ts"

/** cluster.type → its live layer. */
export const clusterTypes: Readonly<Record<string, ClusterLayerFactory>> = {
  torque: (setup) => makeTorqueCluster(setup.config),
  sge: (setup) => makeSgeCluster(setup.config),
  slurm: (setup) => makeSlurmCluster(setup.config),
  /** The batch system of a scenario file (cluster.scenario) under the live clouds, in real time. */
  simulated: (setup) => simulatedClusterLayer(setup)
}

/** cloud.<res>.type → the factory of one resource's Cloud service. */
export const cloudTypes: Readonly<Record<string, CloudServiceFactory>> = {
  openstack: registryCloudTypes.openstack,
  aws: registryCloudTypes.aws,
  /** Simulated VMs (the behaviour of a scenario's clouds.<res>, inline or from a scenario file) under a real batch system, in real time. */
  simulated: simulatedCloudService
}

/**
 * Configuration checkers by kind: "port" (`{port: {number: N}}`), "command"
 * (`{command: {command: ...}}`), or a plugin's name (`{plugin: {name: X}}`).
 */
export const checkerKinds: Readonly<Record<string, CheckerFactory>> = {
  port: registryCheckerKinds.port,
  command: registryCheckerKinds.command
}

/** The registry key of a configured checker, or null when none is configured (Active counts as Ready). */
export const checkerKind = (c: CheckerConfig | null): string | null =>
  c === null ? null : c.port !== undefined ? "port" : c.command !== undefined ? "command" : c.plugin !== undefined ? c.plugin.name : null

export interface LiveRegistry {
  readonly cluster: Readonly<Record<string, ClusterLayerFactory>>
  readonly cloud: Readonly<Record<string, CloudServiceFactory>>
  readonly checker: Readonly<Record<string, CheckerFactory>>
}

/** What `dyncluster run --config` uses. */
export const liveRegistry: LiveRegistry = { cluster: clusterTypes, cloud: cloudTypes, checker: checkerKinds }
