/**
 * `cluster.config` of `cluster.type: slurm`: command templates with working
 * defaults, the Slurm names dyncluster uses for reservations (features,
 * reservation names), timeouts, and the power-saving settings of
 * `cluster.mode: power_save`. Decoded with errors that name the key.
 */
import { Either, Schema } from "effect"
import type { ConfigFile } from "../../model/config.ts"
import { ClusterConfigError, invalidConfigMessage, readClusterConfig, secondsKey, templateFields } from "../batch-commands.ts"
import { validateName } from "../command.ts"
import { expandHostlist } from "./hostlist.ts"

/**
 * The default templates. `{N}` are values dyncluster fills in (validated,
 * each one argument); they run without a shell. Slurm 22.05 or later is
 * needed for the dynamic-node templates (`scontrol create/delete node`).
 */
export const SLURM_DEFAULTS = {
  /** All jobs (22.05 ignores filters anyway). */
  squeue_command: "squeue --json",
  /** All nodes. */
  sinfo_command: "sinfo --json",
  /** One node, FUTURE ones included: {0} node. */
  show_node_command: "scontrol --future show node -o {0}",
  /** {0} node, {1} address, {2} CPUs, {3} features (comma separated), {4} RealMemory in MB (node_memory_mb). */
  create_node_command: "scontrol create nodename={0} NodeAddr={1} CPUs={2} Feature={3} RealMemory={4} State=FUTURE",
  /** {0} node. */
  delete_node_command: "scontrol delete nodename={0}",
  /** Hold: drain (running jobs finish, no new ones). {0} node. */
  hold_node_command: 'scontrol update nodename={0} state=drain "reason=dyncluster: hold"',
  /** Unhold. {0} node. */
  unhold_node_command: "scontrol update nodename={0} state=resume",
  /** Drain before removal. {0} node. */
  drain_node_command: 'scontrol update nodename={0} state=drain "reason=dyncluster: removing"',
  /** Power saving: a node whose VM could not be started goes back to Slurm DOWN (its jobs are requeued). {0} node, {1} reason. */
  down_node_command: "scontrol update nodename={0} state=down reason={1}",
  /** Power saving: where a resumed node's VM is. {0} node, {1} address, {2} host name. */
  set_node_address_command: "scontrol update nodename={0} nodeaddr={1} nodehostname={2}",
  /** Vacate: {0} job id. */
  cancel_job_command: "scancel {0}",
  /** {0} reservation. */
  show_reservation_command: "scontrol show reservation -o {0}",
  /** A reservation for one account on the listed nodes; MAGNETIC: that account's jobs use it without asking. {0} name, {1} account, {2} nodes. */
  create_reservation_command:
    "scontrol create reservation ReservationName={0} Accounts={1} Nodes={2} StartTime=now Duration=infinite Flags=MAGNETIC",
  /** {0} reservation, {1} its nodes (the whole list: 22.05 has no Nodes+=). */
  update_reservation_command: "scontrol update ReservationName={0} Nodes={1}",
  /** {0} reservation. */
  delete_reservation_command: "scontrol delete ReservationName={0}",
  /** Health, when no query ran yet. */
  ping_command: "scontrol ping"
} as const

export type SlurmTemplate = keyof typeof SLURM_DEFAULTS
export const SLURM_TEMPLATE_KEYS = Object.keys(SLURM_DEFAULTS) as ReadonlyArray<SlurmTemplate>

const slurmName = Schema.String.pipe(
  Schema.filter((s) => Either.isRight(validateName(s)), { message: () => "expected a Slurm name: letters, digits, . _ @ + - (no blanks or commas)" })
)

export const SlurmConfig = Schema.Struct({
  ...templateFields(SLURM_DEFAULTS),
  /** Feature of every dyncluster node without a queue reservation; a partition selects them with `NodeSet=... Feature=<this>`. */
  dynamic_feature: Schema.optionalWith(slurmName, { default: () => "dyncluster" }),
  /**
   * The node feature that puts a node into a reserved partition (queue):
   * partition → feature. A partition not listed uses its own name as the feature.
   */
  partition_features: Schema.optionalWith(Schema.Record({ key: Schema.String, value: slurmName }), { default: () => ({}) }),
  /**
   * RealMemory (MB) of a new node, per resource. A dynamic node keeps what it
   * was created with (its slurmd cannot raise it), and Slurm's default is 1 MB:
   * jobs asking for --mem only fit when this is set.
   */
  node_memory_mb: Schema.optionalWith(
    Schema.Record({ key: Schema.String, value: Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({ message: () => "expected a positive integer (MB)" }) }),
    { default: () => ({}) }
  ),
  /** Account reservations are named <prefix><account>. */
  reservation_prefix: Schema.optionalWith(slurmName, { default: () => "dyncluster_" }),
  /** Kill a Slurm command after this long. */
  command_timeout: secondsKey(60),
  /** Pause between two looks while waiting for Slurm. */
  poll_interval: secondsKey(1),
  /** addNode: longest wait for the VM's slurmd to register. */
  register_timeout: secondsKey(300),
  /** removeNode: longest wait for the node to drain. */
  drain_timeout: secondsKey(300),
  /** power_save: where slurm-resume records which node runs on which instance. */
  power_save_state_file: Schema.optionalWith(Schema.String, { default: () => "/var/lib/dyncluster/slurm-power.json" }),
  /** power_save: resource → the Slurm nodes (a host list) its VMs serve. */
  power_save_nodes: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) }),
  /** power_save: longest wait for a VM to become Active (keep it below slurm.conf's ResumeTimeout). */
  power_save_boot_timeout: secondsKey(240)
})
export type SlurmConfig = typeof SlurmConfig.Type

export interface SlurmSettings extends SlurmConfig {
  /** Monitored partitions (cluster.config.queue_to_monitor); empty = all. */
  readonly queue_to_monitor: ReadonlyArray<string>
  /** cluster.mode */
  readonly mode: "dynamic" | "power_save"
  /** power_save_nodes expanded: node → resource. */
  readonly powerSaveNodes: ReadonlyMap<string, string>
}

const KNOWN_KEYS = new Set<string>([
  ...Object.keys(SlurmConfig.fields),
  "queue_to_monitor",
  "queued_job_number_to_display",
  "post_add_node_command",
  "post_remove_node_command"
])

/** Keys of cluster.config this layer does not know (typos in template names), as warnings. */
export const unknownSlurmKeys = (raw: unknown): ReadonlyArray<string> =>
  raw !== null && typeof raw === "object" && !Array.isArray(raw)
    ? Object.keys(raw)
        .filter((k) => !KNOWN_KEYS.has(k))
        .map((k) => `cluster.config.${k}: unknown key for cluster type slurm, ignored`)
    : []

const invalid = (problems: ReadonlyArray<string>) =>
  Either.left(new ClusterConfigError({ problems, message: invalidConfigMessage(problems, "Slurm cluster configuration") }))

/**
 * The Slurm settings of `cluster.config` (defaults where a key is absent).
 * `mode` and the resources come from the rest of the file when given.
 */
export const decodeSlurmConfig = (
  raw: unknown,
  opts: { readonly queueToMonitor?: ReadonlyArray<string>; readonly mode?: "dynamic" | "power_save"; readonly resources?: ReadonlyArray<string> } = {}
): Either.Either<SlurmSettings, ClusterConfigError> => {
  const read = readClusterConfig(SlurmConfig, raw, SLURM_TEMPLATE_KEYS)
  if (Either.isLeft(read)) return invalid(read.left)
  const c = read.right.config
  const problems = [...read.right.problems]
  for (const res of Object.keys(c.node_memory_mb)) {
    if (opts.resources !== undefined && !opts.resources.includes(res)) {
      problems.push(`cluster.config.node_memory_mb.${res}: no cloud resource of that name (known: ${opts.resources.join(", ") || "none"})`)
    }
  }
  const powerSaveNodes = new Map<string, string>()
  for (const [res, list] of Object.entries(c.power_save_nodes)) {
    if (opts.resources !== undefined && !opts.resources.includes(res)) {
      problems.push(`cluster.config.power_save_nodes.${res}: no cloud resource of that name (known: ${opts.resources.join(", ") || "none"})`)
      continue
    }
    const hosts = expandHostlist(list)
    if (Either.isLeft(hosts)) {
      problems.push(`cluster.config.power_save_nodes.${res}: ${hosts.left.message}`)
      continue
    }
    for (const h of hosts.right) {
      const other = powerSaveNodes.get(h)
      if (other !== undefined && other !== res) problems.push(`cluster.config.power_save_nodes: node ${h} is listed for both ${other} and ${res}`)
      else powerSaveNodes.set(h, res)
    }
  }
  const mode = opts.mode ?? "dynamic"
  if (mode === "power_save" && powerSaveNodes.size === 0) {
    problems.push("cluster.config.power_save_nodes: cluster.mode is power_save but no resource lists its Slurm nodes (e.g. {os-res: \"cloud[1-8]\"})")
  }
  if (problems.length > 0) return invalid(problems)
  return Either.right({ ...c, queue_to_monitor: opts.queueToMonitor ?? [], mode, powerSaveNodes })
}

/** The Slurm settings of a whole configuration file. */
export const slurmSettings = (config: ConfigFile): Either.Either<SlurmSettings, ClusterConfigError> => {
  const mode = config.cluster.mode
  return decodeSlurmConfig(config.cluster.config, {
    queueToMonitor: config.cluster.config.queue_to_monitor ?? [],
    mode: mode === "power_save" ? "power_save" : "dynamic",
    resources: Object.keys(config.cloud)
  })
}

/** The features a new node of a resource gets for its reservation (SPEC §1 "Slurm: partition and node features"). */
export const nodeFeatures = (
  s: Pick<SlurmSettings, "dynamic_feature" | "partition_features">,
  reservation: { readonly queue: string | null; readonly property: string | null }
): ReadonlyArray<string> => {
  const base = reservation.queue !== null ? (s.partition_features[reservation.queue] ?? reservation.queue) : s.dynamic_feature
  return reservation.property !== null && reservation.property !== base ? [base, reservation.property] : [base]
}

export const reservationName = (s: Pick<SlurmSettings, "reservation_prefix">, account: string): string => `${s.reservation_prefix}${account}`
