/**
 * One Cloud service over every resource of the configuration: each call goes
 * to the service of its resource. `layerClouds` composes one Cloud layer per
 * resource (each cloud kind provides its own: layerOpenStackCloud,
 * layerEc2Cloud, the daemon's layerSimulatedCloud) into the engine's Cloud;
 * the daemon builds it from its registry (src/daemon/live.ts liveLayer).
 * `makeLiveClouds` and `checkClouds` build the live clients of every resource
 * for the commands that need their extras (probe, warnings): every
 * configuration problem of every resource is reported at once, with its key path.
 */
import { Context, Duration, Effect, Either, Layer, type Scope } from "effect"
import { Cloud, CloudError, type CloudService } from "../engine/services.ts"
import type { ConfigFile } from "../model/config.ts"
import { CloudSetupError, overlappingPrefixes, type CloudFactory, type LiveCloudOptions, type ResourceCloud } from "./cloud-setup.ts"
import { openstackFactory } from "./openstack/cloud.ts"

export { CloudSetupError, type CloudFactory, type LiveCloudOptions, type ResourceCloud } from "./cloud-setup.ts"

/** cloud.<res>.type → factory of that resource's client. */
export const liveCloudFactories: Readonly<Record<string, CloudFactory>> = {
  openstack: openstackFactory,
  // The AWS SDK is big: load it only when a configuration has an aws resource.
  aws: (resource, rc, options) =>
    Effect.flatMap(
      Effect.promise(() => import("./ec2/cloud.ts")),
      (m) => m.awsFactory(resource, rc, options)
    )
}

/** Routes each call to the service of its resource (instances carry theirs in `cloud_resource`). */
const dispatchClouds = (byResource: ReadonlyMap<string, CloudService>): CloudService => {
  const of = (resource: string, op: string) => {
    const s = byResource.get(resource)
    return s !== undefined
      ? Effect.succeed(s)
      : Effect.fail(new CloudError({ resource, op, kind: "notfound", message: `no cloud resource ${resource} in the configuration` }))
  }
  return {
    list: (r) => Effect.flatMap(of(r, "list"), (s) => s.list(r)),
    boot: (r, o) => Effect.flatMap(of(r, "boot"), (s) => s.boot(r, o)),
    refresh: (i) => Effect.flatMap(of(i.cloud_resource, "refresh"), (s) => s.refresh(i)),
    destroy: (i) => Effect.flatMap(of(i.cloud_resource, "destroy"), (s) => s.destroy(i)),
    coresPerNode: (r) => Effect.flatMap(of(r, "flavour"), (s) => s.coresPerNode(r))
  }
}

/**
 * The services behind the engine's Cloud, by resource name. A reload that
 * adds a resource adds its service here (src/daemon/live.ts); the Cloud built
 * by layerClouds routes to it from then on.
 */
export interface CloudResourcesService {
  readonly has: (resource: string) => boolean
  readonly add: (resource: string, service: CloudService) => void
}

export class CloudResources extends Context.Tag("dyncluster/CloudResources")<CloudResources, CloudResourcesService>() {}

/**
 * The engine's one Cloud from one Cloud layer per resource: each call goes to
 * the service of its resource (an unknown resource: a `notfound` CloudError).
 * The layers are built in order, the first failure stops the build; each
 * lives as long as the composed layer.
 */
export const layerClouds = <E, R>(byResource: ReadonlyArray<readonly [string, Layer.Layer<Cloud, E, R>]>): Layer.Layer<Cloud | CloudResources, E, R> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const services = new Map<string, CloudService>()
      for (const [name, layer] of byResource) services.set(name, Context.get(yield* Layer.build(layer), Cloud))
      const resources: CloudResourcesService = {
        has: (name) => services.has(name),
        add: (name, service) => void services.set(name, service)
      }
      return Context.make(Cloud, dispatchClouds(services)).pipe(Context.add(CloudResources, resources))
    })
  )

export interface LiveClouds {
  readonly service: CloudService
  readonly resources: ReadonlyMap<string, ResourceCloud>
  /** Unknown keys and notes, each naming its key path. */
  readonly warnings: ReadonlyArray<string>
}

/**
 * The clients of every resource of the configuration. Fails with every
 * problem of every resource (wrong keys, missing user-data files,
 * overlapping name prefixes, unknown types).
 */
export const makeLiveClouds = (
  config: ConfigFile,
  options: LiveCloudOptions = {},
  factories: Readonly<Record<string, CloudFactory>> = liveCloudFactories
): Effect.Effect<LiveClouds, CloudSetupError, Scope.Scope> =>
  Effect.gen(function* () {
    const problems: Array<string> = []
    const resources = new Map<string, ResourceCloud>()
    const prefixes: Array<readonly [string, string]> = []
    for (const [name, rc] of Object.entries(config.cloud)) {
      const p = (rc.config as Record<string, unknown>).instance_name_prefix
      if (typeof p === "string") prefixes.push([name, p])
      const f = factories[rc.type]
      if (f === undefined) {
        problems.push(`cloud.${name}.type: no live layer for cloud type ${rc.type} (available: ${Object.keys(factories).join(", ")})`)
        continue
      }
      const r = yield* Effect.either(f(name, rc, options))
      if (Either.isLeft(r)) problems.push(...r.left.problems)
      else resources.set(name, r.right)
    }
    problems.push(...overlappingPrefixes(prefixes))
    if (problems.length > 0) return yield* Effect.fail(new CloudSetupError({ resource: "*", problems }))
    return {
      service: dispatchClouds(resources),
      resources,
      warnings: [...resources.values()].flatMap((r) => r.warnings)
    }
  })

// ---------------------------------------------------------------- check-config

export interface CloudCheck {
  readonly resource: string
  readonly type: string
  readonly ok: boolean
  /** One sentence: what works, or what is wrong and what to look at. */
  readonly message: string
}

export interface CloudsReport {
  /** Configuration problems (key paths), found without contacting any cloud. */
  readonly problems: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  /** With `online`: one line per resource whose configuration is fine. */
  readonly checks: ReadonlyArray<CloudCheck>
}

const HINTS: Record<string, string> = {
  auth: "check the credentials (OpenStack: username/password/project or the application credential and the domains; AWS: the access keys or the credential chain) and that the account may use this API",
  notfound: "check auth_url, region and interface (OpenStack) or region_name/endpoint_url (AWS), and that the names in the configuration exist",
  invalid: "check the flavour / instance type, image, network and security group names",
  timeout: "is the API reachable from this host (firewall, proxy)? it did not answer in time",
  api: "is the API reachable from this host (firewall, proxy), and is the cloud healthy?",
  quota: "the account is at its quota",
  ratelimit: "the API is throttling this account; try again later",
  capacity: "the cloud has no capacity for this flavour / instance type right now",
  conflict: "the cloud refused the request as conflicting"
}

/**
 * What `dyncluster check-config` says about the clouds: configuration
 * problems of every openstack/aws resource (offline), and with `online` a
 * reachability check of each (authenticate, look up the flavour or instance
 * type), in plain words.
 */
export const checkClouds = (
  config: ConfigFile,
  online: boolean,
  options: LiveCloudOptions & { readonly timeoutSeconds?: number } = {},
  factories: Readonly<Record<string, CloudFactory>> = liveCloudFactories
): Effect.Effect<CloudsReport, never, Scope.Scope> =>
  Effect.gen(function* () {
    const problems: Array<string> = []
    const built = new Map<string, ResourceCloud>()
    const prefixes: Array<readonly [string, string]> = []
    for (const [name, rc] of Object.entries(config.cloud)) {
      const f = factories[rc.type]
      if (f === undefined) continue // e.g. simulated resources of a scenario
      const p = (rc.config as Record<string, unknown>).instance_name_prefix
      if (typeof p === "string") prefixes.push([name, p])
      const r = yield* Effect.either(f(name, rc, options))
      if (Either.isLeft(r)) problems.push(...r.left.problems)
      else built.set(name, r.right)
    }
    problems.push(...overlappingPrefixes(prefixes))
    const warnings = [...built.values()].flatMap((r) => r.warnings)
    if (!online) return { problems, warnings, checks: [] }
    const timeout = Duration.seconds(options.timeoutSeconds ?? 90)
    const checks = yield* Effect.forEach(
      [...built.values()],
      (c) =>
        c.probe.pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new CloudError({ resource: c.resource, op: "probe", kind: "timeout", message: `no answer within ${Duration.format(timeout)}` })
          }),
          Effect.match({
            onSuccess: (message): CloudCheck => ({ resource: c.resource, type: c.type, ok: true, message }),
            onFailure: (e): CloudCheck => ({
              resource: c.resource,
              type: c.type,
              ok: false,
              message: `${e.op} failed (${e.kind}): ${e.message} — ${HINTS[e.kind] ?? "see the message"}`
            })
          })
        ),
      { concurrency: 4 }
    )
    return { problems, warnings, checks }
  })
