/**
 * What the live layers of `dyncluster run --config` are built from, and the
 * shapes of the functions that make them. The registry (registry.ts) maps type names to
 * factories; the factories (sim-cluster.ts, sim-cloud.ts, src/live) import
 * only this module from the daemon, so the registry and its entries do not
 * import each other (src/imports.test.ts).
 */
import { Context, type Layer } from "effect"
import { dirname, isAbsolute, resolve } from "node:path"
import type { Checker, Cloud, Cluster, CloudService } from "../engine/services.ts"
import type { CheckerConfig, ConfigFile, EngineSettings, ResourceConfig } from "../model/config.ts"
import type { LogSink } from "./log.ts"

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
 * The Cloud layer of one resource of a cloud type, from that resource's
 * section (`cloud.<name>`). The engine's one Cloud routes each call to the
 * service of the call's resource (src/live/cloud.ts layerClouds).
 */
export type CloudLayerFactory = (resource: string, config: ResourceConfig, setup: LiveSetup) => Layer.Layer<Cloud, SetupFailure>

/** The Checker layer of a configuration checker (`dynamic-cluster.config-checker`). */
export type CheckerLayerFactory = (config: CheckerConfig, setup: LiveSetup) => Layer.Layer<Checker, SetupFailure>

/** Where a scenario file named in the configuration (`cluster.scenario`, `cloud.<res>.config.scenario`) is: relative to the configuration file's directory (else the working directory). */
export const scenarioPathOf = (scenario: string, configPath: string | undefined): string =>
  isAbsolute(scenario) ? scenario : resolve(configPath !== undefined ? dirname(resolve(configPath)) : process.cwd(), scenario)
