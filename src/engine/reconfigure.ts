/**
 * Reload without a restart (SIGHUP, PUT /server/config/reload): what of a
 * new configuration the engine takes while it runs, and in words what
 * changed. The engine calls `reconfigureState` under its lock; nodes,
 * instances, back-off and the policy's memory are left as they are.
 *
 * Taken live: the timers (max_idle_time, max_down_time, max_launch_time,
 * the poller and provisioning intervals), queued_job_number_to_display, and
 * per resource priority, quantity (min/max) and price; new resources are
 * added (their instances are listed at the next step, like at start-up). A
 * resource that is gone from the file is drained (min = max = 0, its nodes
 * held and removed once their jobs end) by the caller, never abandoned.
 * Everything else (policy, cluster, a resource's type, cloud section or
 * reservation, hooks, workers, the API's address and token, logging) is
 * reported as needing a restart.
 */
import type { ConfigFile, EngineSettings, ResourceConfig } from "../model/config.ts"
import { engineSettings } from "../model/config.ts"
import type { ResState } from "./state.ts"

/** A new resource's state, as at start-up (recovery lists its instances first). */
export const initialResState = (name: string, rc: ResourceConfig): ResState => ({
  name,
  type: rc.type,
  priority: rc.priority,
  cfgMin: rc.quantity.min,
  cfgMax: rc.quantity.max,
  min: rc.quantity.min,
  max: rc.quantity.max,
  mode: "normal",
  reservation: rc.reservation,
  coresPerNode: 0,
  config: rc.config,
  inflight: 0,
  backoffUntil: 0,
  failures: 0,
  failedDecision: -1,
  recovered: false,
  invalid: null,
  reconciledAt: -Infinity,
  reconciling: false,
  overMaxWarned: false
})

/** The settings a reload changes; the rest stays as the engine started with it. */
export const LIVE_SETTINGS = [
  ["maxIdleTime", "dynamic-cluster.max_idle_time"],
  ["maxDownTime", "dynamic-cluster.max_down_time"],
  ["maxLaunchTime", "dynamic-cluster.max_launch_time"],
  ["clusterPollerInterval", "dynamic-cluster.cluster_poller_interval"],
  ["cloudPollerInterval", "dynamic-cluster.cloud_poller_interval"],
  ["autoProvisionInterval", "dynamic-cluster.auto_provision_interval"],
  ["reconcileEveryPolls", "dynamic-cluster.reconcile_every_polls"],
  ["queuedJobNumberToDisplay", "cluster.config.queued_job_number_to_display"]
] as const satisfies ReadonlyArray<readonly [keyof EngineSettings, string]>

export interface Reconfiguration {
  /** What changed and is in effect now, one line each ("dynamic-cluster.max_idle_time: 600 → 120"). */
  readonly changes: ReadonlyArray<string>
  /** What changed in the file but needs a restart to take effect. */
  readonly restart: ReadonlyArray<string>
  /** Resources new in the file, added to the engine. */
  readonly added: ReadonlyArray<string>
  /** Resources gone from the file: the caller drains them. */
  readonly removed: ReadonlyArray<string>
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** The parts of the file a reload does not apply, by key path: any of them that changed needs a restart. */
const restartOnly = (c: ConfigFile): ReadonlyArray<readonly [string, unknown]> => {
  const d = c["dynamic-cluster"]
  const { queued_job_number_to_display: _shown, ...clusterConfig } = c.cluster.config
  return [
    ["dynamic-cluster.policy", d.policy],
    ["dynamic-cluster.auto_mode (use PUT/DELETE /server/auto)", d.auto_mode],
    ["dynamic-cluster.admin-server (host, port, token)", { ...d["admin-server"], tls: undefined }],
    ["dynamic-cluster.config-checker", d["config-checker"]],
    ["dynamic-cluster worker number", [d.worker_thread_number, d.worker_process_number, d.worker_number]],
    ["dynamic-cluster.post_vm_provision_command", d.post_vm_provision_command],
    ["dynamic-cluster.post_vm_destroy_command", d.post_vm_destroy_command],
    ["cluster.type", c.cluster.type],
    ["cluster.scenario", c.cluster.scenario],
    ["cluster.mode", c.cluster.mode],
    ["cluster.config", clusterConfig],
    ["plugins", c.plugins],
    ["logging", c.logging]
  ]
}

/**
 * Applies `next` to the engine's settings, resources and prices (mutated in
 * place; the new settings are returned) and says what it did. `old` is the
 * configuration the engine runs on now; `addable` says whether a resource
 * new in the file can be served (its cloud exists).
 */
export const reconfigureState = (
  state: {
    readonly settings: EngineSettings
    readonly resources: Map<string, ResState>
    readonly prices: Map<string, number>
  },
  old: ConfigFile,
  next: ConfigFile,
  addable: (name: string) => boolean = () => true
): { readonly settings: EngineSettings; readonly result: Reconfiguration } => {
  const changes: Array<string> = []
  const restart: Array<string> = []
  const added: Array<string> = []
  const removed: Array<string> = []

  const fresh = engineSettings(next)
  const settings: Record<string, unknown> = { ...state.settings }
  for (const [key, path] of LIVE_SETTINGS) {
    if (state.settings[key] !== fresh[key]) {
      changes.push(`${path}: ${state.settings[key]} → ${fresh[key]}`)
      settings[key] = fresh[key]
    }
  }
  const before = new Map(restartOnly(old))
  for (const [path, v] of restartOnly(next)) if (!same(before.get(path), v)) restart.push(path)

  for (const [name, rc] of Object.entries(next.cloud)) {
    const r = state.resources.get(name)
    const was = old.cloud[name]
    if (r === undefined) {
      if (!addable(name)) {
        restart.push(`cloud.${name} (a new resource of type ${rc.type})`)
        continue
      }
      state.resources.set(name, initialResState(name, rc))
      if (rc.price !== undefined) state.prices.set(name, rc.price)
      added.push(name)
      changes.push(`cloud.${name}: new resource (${rc.type}, min ${rc.quantity.min}, max ${rc.quantity.max})`)
      continue
    }
    if (was === undefined) {
      // removed by an earlier reload (drained) and back now: configured limits again
      r.cfgMin = rc.quantity.min
      r.cfgMax = rc.quantity.max
      r.min = rc.quantity.min
      r.max = rc.quantity.max
      r.mode = "normal"
      changes.push(`cloud.${name}: back in the configuration (min ${r.min}, max ${r.max})`)
    } else {
      if (r.priority !== rc.priority) {
        changes.push(`cloud.${name}.priority: ${r.priority} → ${rc.priority}`)
        r.priority = rc.priority
      }
      if (r.cfgMin !== rc.quantity.min || r.cfgMax !== rc.quantity.max) {
        const what = `cloud.${name}.quantity: min ${r.cfgMin} → ${rc.quantity.min}, max ${r.cfgMax} → ${rc.quantity.max}`
        r.cfgMin = rc.quantity.min
        r.cfgMax = rc.quantity.max
        if (r.mode === "normal") {
          r.min = r.cfgMin
          r.max = r.cfgMax
          changes.push(what)
        } else {
          changes.push(`${what} (the resource is ${r.mode === "frozen" ? "frozen" : "draining"} by an operator: it takes them at PUT /resource/${name}/restore)`)
        }
      }
      if (!same(was.type, rc.type)) restart.push(`cloud.${name}.type`)
      if (!same(was.config, rc.config)) restart.push(`cloud.${name}.config`)
      if (!same(was.reservation, rc.reservation)) restart.push(`cloud.${name}.reservation`)
    }
    if (r.invalid !== null) {
      changes.push(`cloud.${name}: booting again (it had stopped after the cloud refused a boot as invalid: ${r.invalid})`)
      r.invalid = null
    }
    const price = state.prices.get(name)
    if (price !== rc.price) {
      changes.push(`cloud.${name}.price: ${price ?? "none"} → ${rc.price ?? "none"}`)
      if (rc.price === undefined) state.prices.delete(name)
      else state.prices.set(name, rc.price)
    }
  }
  for (const name of state.resources.keys()) {
    if (next.cloud[name] !== undefined || old.cloud[name] === undefined) continue
    const r = state.resources.get(name)!
    // Gone from the file: drained by the caller; a later restore keeps it at 0.
    r.cfgMin = 0
    r.cfgMax = 0
    removed.push(name)
    changes.push(`cloud.${name}: removed from the configuration: drained (its nodes are held and removed as their jobs end)`)
  }
  return { settings: settings as unknown as EngineSettings, result: { changes, restart, added, removed } }
}
