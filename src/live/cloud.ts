/**
 * One Cloud service over every resource of the configuration: each call goes
 * to the client of its resource (`cloud.<res>.type` picks the factory:
 * openstack, aws). Built at start-up, where every configuration problem of
 * every resource is reported at once, with its key path.
 */
import { Effect, Either, type Scope } from "effect"
import { CloudError, type CloudService } from "../engine/services.ts"
import type { ConfigFile } from "../model/config.ts"
import { CloudSetupError, overlappingPrefixes, type CloudFactory, type LiveCloudOptions, type ResourceCloud } from "./cloud-setup.ts"
import { awsFactory } from "./ec2/cloud.ts"
import { openstackFactory } from "./openstack/cloud.ts"

export { CloudSetupError, type CloudFactory, type LiveCloudOptions, type ResourceCloud } from "./cloud-setup.ts"

/** cloud.<res>.type → factory of that resource's client. */
export const liveCloudFactories: Readonly<Record<string, CloudFactory>> = {
  openstack: openstackFactory,
  aws: awsFactory
}

/** Routes each call to the service of its resource (instances carry theirs in `cloud_resource`). */
export const dispatchClouds = (byResource: ReadonlyMap<string, CloudService>): CloudService => {
  const of = (resource: string, op: string) => {
    const s = byResource.get(resource)
    return s !== undefined
      ? Effect.succeed(s)
      : Effect.fail(new CloudError({ resource, op, kind: "notfound", message: `no cloud resource ${resource} in the configuration` }))
  }
  return {
    list: (r) => Effect.flatMap(of(r, "list"), (s) => s.list(r)),
    boot: (r) => Effect.flatMap(of(r, "boot"), (s) => s.boot(r)),
    refresh: (i) => Effect.flatMap(of(i.cloud_resource, "refresh"), (s) => s.refresh(i)),
    destroy: (i) => Effect.flatMap(of(i.cloud_resource, "destroy"), (s) => s.destroy(i)),
    coresPerNode: (r) => Effect.flatMap(of(r, "flavour"), (s) => s.coresPerNode(r))
  }
}

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
