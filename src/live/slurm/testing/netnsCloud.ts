/**
 * A Cloud for the Slurm tests whose "VMs" are network namespaces on this
 * machine (ci/slurm/slurm-vm.sh): booting records an instance (Pending);
 * the first refresh powers it on, i.e. makes the namespace with its own
 * 127.201.1.x address and starts its boot agent, which then runs a real
 * slurmd (Active); destroying kills everything in the namespace. Instances
 * live in a state directory (one JSON file each), so separate processes
 * (the scaler, slurmctld's ResumeProgram, SuspendProgram) see one cloud.
 *
 * - mode "dynamic": the VM is named like its instance and, like a VM whose
 *   user data waits for the scaler, starts `slurmd -Z` once its node exists.
 * - mode "cloud": the VM runs `slurmd -b -N <node>` for the State=CLOUD node
 *   named in the boot's user-data value `slurm_node` (power saving).
 */
import { Clock, Effect } from "effect"
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { CloudError, type BootOptions, type CloudErrorKind, type CloudService } from "../../../engine/services.ts"
import { emptyInstance, InstanceState, type Instance } from "../../../model/types.ts"
import { runCommand } from "../../command.ts"

export interface NetnsCloudOptions {
  /** ci/slurm/slurm-vm.sh */
  readonly script: string
  /** Where the instance records live. */
  readonly stateDir: string
  /** Instance names: <prefix><n>. Letters, digits, "-" and "_" only (they name namespaces and nodes). */
  readonly prefix: string
  readonly mode: "dynamic" | "cloud"
  readonly cores: number
  readonly memMb: number
  /** Every boot fails with this kind (a cloud out of capacity, ...). */
  readonly failBoots?: CloudErrorKind
  /** Boots for these Slurm nodes (user-data slurm_node) fail for lack of capacity. */
  readonly failNodes?: ReadonlyArray<string>
  /** Extra environment for the VM script (SLURM_LOCAL_DIR). */
  readonly env?: Readonly<Record<string, string>>
}

interface VmRecord {
  readonly uuid: string
  readonly name: string
  readonly resource: string
  readonly node: string
  readonly state: "pending" | "active"
  readonly ip: string | null
  readonly created: number
}

export interface NetnsCloud extends CloudService {
  /** Instance records as stored (for assertions). */
  readonly records: () => ReadonlyArray<VmRecord>
  /** Power off every VM of this cloud and forget it (test clean-up). */
  readonly destroyAll: Effect.Effect<void>
}

const nowSec = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

export const makeNetnsCloud = (opts: NetnsCloudOptions): NetnsCloud => {
  mkdirSync(opts.stateDir, { recursive: true })
  const file = (name: string) => join(opts.stateDir, `${name}.json`)
  const read = (name: string): VmRecord | null => {
    try {
      return JSON.parse(readFileSync(file(name), "utf8")) as VmRecord
    } catch {
      return null
    }
  }
  const write = (r: VmRecord) => {
    const tmp = `${file(r.name)}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(r))
    renameSync(tmp, file(r.name))
  }
  const records = (): Array<VmRecord> =>
    readdirSync(opts.stateDir)
      .filter((f) => f.endsWith(".json") && f.startsWith(opts.prefix))
      .map((f) => read(f.slice(0, -5)))
      .filter((r): r is VmRecord => r !== null)

  const fail = (resource: string, op: string, kind: CloudErrorKind, message: string) => new CloudError({ resource, op, kind, message })

  const vm = (resource: string, op: string, args: ReadonlyArray<string>) =>
    runCommand(`bash {0} ${args.map((_, i) => `{${i + 1}}`).join(" ")}`, [opts.script, ...args], { timeoutMs: 60_000, ...(opts.env ? { env: opts.env } : {}) }).pipe(
      Effect.mapError((e) => fail(resource, op, "api", e.message)),
      Effect.flatMap((r) =>
        r.exitCode === 0 ? Effect.succeed(r.stdout.trim()) : Effect.fail(fail(resource, op, "api", `slurm-vm.sh ${args[0]}: exit ${r.exitCode}: ${r.stderr.trim().slice(0, 300)}`))
      )
    )

  const toInstance = (r: VmRecord, state: Instance["state"], now: number): Instance => ({
    ...emptyInstance(r.resource, r.created),
    uuid: r.uuid,
    instance_name: r.name,
    state,
    ip: r.ip,
    dns_name: state === InstanceState.Active ? r.name : null,
    vcpu_number: opts.cores,
    last_update_time: now,
    flavor: `netns-${opts.cores}cpu`
  })

  const service: NetnsCloud = {
    list: (resource) =>
      Effect.gen(function* () {
        const now = yield* nowSec
        return records()
          .filter((r) => r.resource === resource)
          .map((r) => toInstance(r, r.state === "active" ? InstanceState.Active : InstanceState.Pending, now))
      }),
    boot: (resource: string, options?: BootOptions) =>
      Effect.gen(function* () {
        if (opts.failBoots !== undefined) return yield* Effect.fail(fail(resource, "boot", opts.failBoots, `the test cloud refuses boots (${opts.failBoots})`))
        const wanted = options?.userData?.slurm_node
        if (wanted !== undefined && opts.failNodes?.includes(wanted)) {
          return yield* Effect.fail(fail(resource, "boot", "capacity", `the test cloud has no capacity for ${wanted}`))
        }
        const now = yield* nowSec
        // names are never reused; "wx" makes taking one atomic across processes
        let n = 1
        for (;;) {
          try {
            writeFileSync(join(opts.stateDir, `${opts.prefix}${n}.taken`), "", { flag: "wx" })
            break
          } catch {
            n++
          }
        }
        const name = `${opts.prefix}${n}`
        const node = opts.mode === "dynamic" ? name : options?.userData?.slurm_node
        if (node === undefined || !/^[A-Za-z0-9_-]+$/.test(node)) {
          return yield* Effect.fail(fail(resource, "boot", "invalid", `mode cloud needs the user-data value slurm_node, got ${JSON.stringify(node)}`))
        }
        const rec: VmRecord = { uuid: `netns-${name}`, name, resource, node, state: "pending", ip: null, created: now }
        write(rec)
        return toInstance(rec, InstanceState.Pending, now)
      }),
    refresh: (inst) =>
      Effect.gen(function* () {
        const now = yield* nowSec
        const r = inst.instance_name === null ? null : read(inst.instance_name)
        if (r === null) return { ...inst, state: InstanceState.Inexistent, last_update_time: now }
        if (r.state === "pending") {
          // power on
          const ip = yield* vm(r.resource, "refresh", ["start", r.name, opts.mode, r.node, String(opts.cores), String(opts.memMb)])
          const on: VmRecord = { ...r, state: "active", ip }
          write(on)
          return toInstance(on, InstanceState.Active, now)
        }
        const status = yield* vm(r.resource, "refresh", ["status", r.name])
        return toInstance(r, status.startsWith("running") ? InstanceState.Active : InstanceState.Error, now)
      }),
    destroy: (inst) =>
      Effect.gen(function* () {
        const name = inst.instance_name
        if (name === null) return
        const r = read(name)
        yield* vm(inst.cloud_resource, "destroy", ["stop", name])
        if (r !== null) rmSync(file(name), { force: true })
      }),
    coresPerNode: () => Effect.succeed(opts.cores),
    records,
    destroyAll: Effect.suspend(() => Effect.forEach(records(), (r) => Effect.ignore(service.destroy(toInstance(r, InstanceState.Active, 0))), { discard: true })).pipe(
      Effect.zipRight(Effect.sync(() => rmSync(opts.stateDir, { recursive: true, force: true })))
    )
  }
  return service
}
