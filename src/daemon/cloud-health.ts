/**
 * Whether each cloud accepts the scaler's credentials, for GET /server/status
 * (issue 6: "authentication errors are reported in /server/status").
 *
 * Every call to a resource's cloud passes through `watch`: a failure of kind
 * "auth" (Keystone 401, a Nova 403 that is not a quota, EC2 AuthFailure or
 * UnauthorizedOperation) marks the resource; any call that succeeds clears
 * it, since the cloud then accepted the credentials. Other failures (network,
 * quota, 5xx) say nothing about the credentials and leave the mark as it is.
 *
 * While a resource is marked, `recheck` (run every cloud poll interval by the
 * daemon) makes one cheap read call (list the resource's instances), so the
 * mark clears once the credentials are fixed even when nothing is queued and
 * the engine has no reason to call that cloud (issue 20, finding 6).
 */
import { Clock, Effect } from "effect"
import type { CloudError, CloudService } from "../engine/services.ts"
import type { LogSink } from "./log.ts"

/** One resource's entry under `clouds` in GET /server/status. */
export interface CloudAuthStatus {
  /** false while the cloud refuses the credentials. */
  readonly auth: boolean
  /** What the cloud said the last time it refused them (no secret: the layers never put one in a message). */
  readonly error: string | null
  /** Seconds since the epoch of the first refusal in a row. */
  readonly since: number | null
}

export interface CloudHealth {
  /** The service of `resource`, with every call observed. */
  readonly watch: (resource: string, cloud: CloudService) => CloudService
  /** resource → its status, for every resource watched. */
  readonly view: () => Record<string, CloudAuthStatus>
  /** One cheap read call to each resource whose credentials were refused (errors are only observed). */
  readonly recheck: Effect.Effect<void>
}

const OK: CloudAuthStatus = { auth: true, error: null, since: null }

export const makeCloudHealth = (log?: LogSink): CloudHealth => {
  const state = new Map<string, CloudAuthStatus>()
  const watched = new Map<string, CloudService>()

  const failed = (resource: string, e: CloudError) =>
    e.kind !== "auth"
      ? Effect.void
      : Effect.map(Clock.currentTimeMillis, (ms) => {
          const before = state.get(resource) ?? OK
          const error = `${e.op}: ${e.message}`
          if (before.auth) log?.log("error", `cloud resource ${resource} refuses the credentials (${error}); shown in /server/status until a call succeeds`, { resource })
          state.set(resource, { auth: false, error, since: before.since ?? ms / 1000 })
        })

  const succeeded = (resource: string) =>
    Effect.sync(() => {
      const before = state.get(resource) ?? OK
      if (!before.auth) log?.log("info", `cloud resource ${resource} accepts the credentials again`, { resource })
      state.set(resource, OK)
    })

  const observe = <A>(resource: string, eff: Effect.Effect<A, CloudError>): Effect.Effect<A, CloudError> =>
    Effect.tapBoth(eff, { onFailure: (e) => failed(resource, e), onSuccess: () => succeeded(resource) })

  return {
    watch: (resource, cloud) => {
      state.set(resource, state.get(resource) ?? OK)
      const w: CloudService = {
        list: (r) => observe(resource, cloud.list(r)),
        boot: (r, o) => observe(resource, cloud.boot(r, o)),
        refresh: (i) => observe(resource, cloud.refresh(i)),
        destroy: (i) => observe(resource, cloud.destroy(i)),
        coresPerNode: (r) => observe(resource, cloud.coresPerNode(r))
      }
      watched.set(resource, w)
      return w
    },
    view: () => Object.fromEntries(state),
    recheck: Effect.suspend(() =>
      Effect.forEach(
        [...watched].filter(([r]) => state.get(r)?.auth === false),
        ([r, w]) => Effect.ignore(w.list(r)),
        { discard: true }
      )
    )
  }
}
