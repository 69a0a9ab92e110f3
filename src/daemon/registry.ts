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
import { Context, type Effect, type Layer, type Scope } from "effect"
import type { Cluster, CheckerService, CloudService } from "../engine/services.ts"
import type { CheckerConfig, ConfigFile, EngineSettings, ResourceConfig } from "../model/config.ts"
import type { LogSink } from "./log.ts"
import { makeSgeCluster } from "../live/sge/layer.ts"
import { makeTorqueCluster } from "../live/torque/layer.ts"
import { makeSlurmCluster } from "../live/slurm/cluster.ts"
import { registryCheckerKinds } from "../live/checkers.ts"
import { registryCloudTypes } from "../live/cloud.ts"
import { simulatedCloudService } from "./sim-cloud.ts"
import { simulatedClusterLayer } from "./sim-cluster.ts"

/** What a live layer gets to build itself. */
export interface LiveSetup {
  readonly config: ConfigFile
  readonly settings: EngineSettings
  readonly log: LogSink
  /** The configuration file's path, when it came from one: relative paths in it (cluster.scenario) are resolved against its directory. */
  readonly configPath?: string | undefined
}

/**
 * A cluster layer may also provide this: it then sees every call the engine
 * makes to the clouds (the simulated batch system under a live cloud takes a
 * node out when its VM is destroyed or found dead).
 */
export class CloudWatch extends Context.Tag("dyncluster/daemon/CloudWatch")<CloudWatch, (cloud: CloudService) => CloudService>() {}

/** Any failure with a message; it is shown to the administrator as the reason start-up stopped. */
export interface SetupFailure {
  readonly message: string
}

/** The Cluster service of a batch system type, from the whole configuration (cluster.config holds its templates). */
export type ClusterLayerFactory = (setup: LiveSetup) => Layer.Layer<Cluster, SetupFailure>

/**
 * The Cloud service of one resource of a cloud type, from that resource's
 * section (`cloud.<name>`). The engine's one Cloud service routes each call
 * to the service of the call's resource.
 */
export type CloudServiceFactory = (resource: string, config: ResourceConfig, setup: LiveSetup) => Effect.Effect<CloudService, SetupFailure, Scope.Scope>

/** A configuration checker from `dynamic-cluster.config-checker`. */
export type CheckerFactory = (config: CheckerConfig, setup: LiveSetup) => Effect.Effect<CheckerService, SetupFailure, Scope.Scope>

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
  // (a function, not the value: sim-cloud.ts and this module import each other through sim-cluster.ts)
  simulated: (resource, config, setup) => simulatedCloudService(resource, config, setup)
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
