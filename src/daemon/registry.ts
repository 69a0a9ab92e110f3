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
import { Effect, Layer } from "effect"
import type { CheckerConfig } from "../model/config.ts"
import { makeSgeCluster } from "../live/sge/layer.ts"
import { makeTorqueCluster } from "../live/torque/layer.ts"
import { makeSlurmCluster } from "../live/slurm/cluster.ts"
import { layerChecker } from "../live/checkers.ts"
import { layerOpenStackCloud } from "../live/openstack/cloud.ts"
import { layerSimulatedCloud } from "./sim-cloud.ts"
import { simulatedClusterLayer } from "./sim-cluster.ts"
import type { CheckerLayerFactory, ClusterLayerFactory, CloudLayerFactory } from "./setup.ts"

/** cluster.type → its live layer. */
export const clusterTypes: Readonly<Record<string, ClusterLayerFactory>> = {
  torque: (setup) => makeTorqueCluster(setup.config),
  sge: (setup) => makeSgeCluster(setup.config),
  slurm: (setup) => makeSlurmCluster(setup.config),
  /** The batch system of a scenario file (cluster.scenario) under the live clouds, in real time. */
  simulated: (setup) => simulatedClusterLayer(setup)
}

/** cloud.<res>.type → the Cloud layer of one resource of that type. */
export const cloudTypes: Readonly<Record<string, CloudLayerFactory>> = {
  openstack: (resource, rc, setup) => layerOpenStackCloud(resource, rc, setup),
  // The AWS SDK is big: load it only when a configuration has an aws resource.
  aws: (resource, rc, setup) => Layer.unwrapEffect(Effect.map(Effect.promise(() => import("../live/ec2/cloud.ts")), (m) => m.layerEc2Cloud(resource, rc, setup))),
  /** Simulated VMs (the behaviour of a scenario's clouds.<res>, inline or from a scenario file) under a real batch system, in real time. */
  simulated: layerSimulatedCloud
}

/**
 * Configuration checkers by kind: "port" (`{port: {number: N}}`), "command"
 * (`{command: {command: ...}}`), or a plugin's name (`{plugin: {name: X}}`).
 */
export const checkerKinds: Readonly<Record<string, CheckerLayerFactory>> = {
  port: (cfg) => layerChecker(cfg),
  command: (cfg) => layerChecker(cfg)
}

/** The registry key of a configured checker, or null when none is configured (Active counts as Ready). */
export const checkerKind = (c: CheckerConfig | null): string | null =>
  c === null ? null : c.port !== undefined ? "port" : c.command !== undefined ? "command" : c.plugin !== undefined ? c.plugin.name : null

export interface LiveRegistry {
  readonly cluster: Readonly<Record<string, ClusterLayerFactory>>
  readonly cloud: Readonly<Record<string, CloudLayerFactory>>
  readonly checker: Readonly<Record<string, CheckerLayerFactory>>
}

/** What `dyncluster run --config` uses. */
export const liveRegistry: LiveRegistry = { cluster: clusterTypes, cloud: cloudTypes, checker: checkerKinds }
