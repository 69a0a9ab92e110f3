/**
 * The real Slurm of ci/setup-30-slurm.sh, for the integration tests: is it
 * there (skip visibly, or fail when CI=true), and small helpers that look at
 * it the way an administrator would (sbatch, squeue --json, sinfo --json).
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { describe, it } from "vitest"

import { SLURM_CONF, SLURM_DIR, VM_SCRIPT } from "./paths.ts"

export { PROJECT_ROOT, SLURM_CONF, SLURM_DIR, VM_SCRIPT } from "./paths.ts"
/** Every Slurm command of the tests reads this configuration. */
export const slurmEnv: Readonly<Record<string, string>> = { SLURM_CONF }

const sh = (file: string, args: ReadonlyArray<string>, timeoutMs = 30_000) => {
  const r = spawnSync(file, [...args], { encoding: "utf8", timeout: timeoutMs, env: { ...process.env, ...slurmEnv } })
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? (r.error ? String(r.error) : "") }
}

/** Why the real Slurm cannot be used, or null when it can. */
export const slurmMissing = (): string | null => {
  if (process.getuid?.() !== 0) return "the Slurm tests run as root (they make network namespaces)"
  if (!existsSync(`${SLURM_DIR}/etc/local.env`)) return `no Slurm at ${SLURM_DIR} (run: bash ci/setup-30-slurm.sh)`
  const ping = sh("scontrol", ["ping"], 15_000)
  if (ping.code !== 0 || !/\bUP\b/.test(ping.stdout)) return `slurmctld does not answer (scontrol ping: ${(ping.stdout + ping.stderr).trim() || `exit ${ping.code}`})`
  const parts = sh("sinfo", ["-h", "-o", "%P"]).stdout
  for (const p of ["dyn", "dynq", "dyntest", "dyncon", "cloud"]) {
    if (!new RegExp(`^${p}\\*?$`, "m").test(parts)) return `partition ${p} is missing: start Slurm with bash ci/setup-30-slurm.sh`
  }
  return null
}

/**
 * Registers the suite: skipped with a visible warning when Slurm is missing,
 * but a failing test when CI=true (CI must run these).
 */
export const describeWithSlurm = (name: string, body: () => void): void => {
  const why = slurmMissing()
  if (why !== null) {
    if (process.env.CI === "true") {
      describe(name, () => {
        it("needs the real Slurm of ci/setup-30-slurm.sh (CI=true: not skipped)", () => {
          throw new Error(why)
        })
      })
      return
    }
    console.warn(`[${name}] skipped: ${why}`)
  }
  describe.skipIf(why !== null)(name, body)
}

/** sbatch; returns the job id. */
export const sbatch = (args: ReadonlyArray<string>): string => {
  const r = sh("sbatch", ["--parsable", "-o", "/dev/null", ...args])
  if (r.code !== 0) throw new Error(`sbatch ${args.join(" ")}: ${r.stderr.trim()}`)
  return r.stdout.trim().split(";")[0]
}

export const scancel = (ids: ReadonlyArray<string>): void => {
  if (ids.length > 0) sh("scancel", [...ids])
}

export const scontrol = (args: ReadonlyArray<string>) => sh("scontrol", args)

/** Job id → state, as `squeue --json` shows it (22.05 ignores -j: filtered here). */
export const squeueStates = (): Map<string, string> => {
  const r = sh("squeue", ["--json"])
  const out = new Map<string, string>()
  if (r.code !== 0) return out
  try {
    const doc = JSON.parse(r.stdout) as { jobs: Array<{ job_id: number; job_state: string | Array<string> }> }
    for (const j of doc.jobs) out.set(String(j.job_id), Array.isArray(j.job_state) ? j.job_state[0] : j.job_state)
  } catch {
    // a poll that caught Slurm mid-restart: no information this time
  }
  return out
}

export interface SinfoNode {
  readonly name: string
  /** e.g. "IDLE", "MIXED+DRAIN", "DOWN+NOT_RESPONDING". */
  readonly state: string
  readonly partitions: ReadonlyArray<string>
  readonly features: string
}

/** Every node as `sinfo --json` shows it. */
export const sinfoNodes = (): Array<SinfoNode> => {
  const r = sh("sinfo", ["--json"])
  if (r.code !== 0) return []
  try {
    const doc = JSON.parse(r.stdout) as { nodes: Array<{ name: string; state: string; state_flags?: Array<string>; partitions?: Array<string>; features?: string }> }
    return doc.nodes.map((n) => ({
      name: n.name,
      state: [n.state.toUpperCase(), ...(n.state_flags ?? []).filter((f) => f !== "DYNAMIC_NORM")].join("+"),
      partitions: n.partitions ?? [],
      features: n.features ?? ""
    }))
  } catch {
    return []
  }
}

/** Namespaces of test VMs still present. */
export const vmNamespaces = (prefix: string): Array<string> =>
  sh("ip", ["netns", "list"])
    .stdout.split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(`slurm-${prefix}`))

/** Removes what a test run left in Slurm: its jobs, its VMs, its dynamic nodes. Never fails. */
export const cleanupSlurm = (opts: { readonly prefix: string; readonly jobs?: ReadonlyArray<string>; readonly reservations?: ReadonlyArray<string> }): void => {
  scancel(opts.jobs ?? [])
  for (const ns of vmNamespaces(opts.prefix)) sh("bash", [VM_SCRIPT, "stop", ns.slice("slurm-".length)])
  for (const r of opts.reservations ?? []) sh("scontrol", ["delete", `ReservationName=${r}`])
  const nodes = sh("scontrol", ["--future", "show", "node", "-o"]).stdout
  for (const m of nodes.matchAll(/^NodeName=(\S+)/gm)) {
    const n = m[1]
    if (!n.startsWith(opts.prefix)) continue
    sh("scontrol", ["update", `nodename=${n}`, "state=down", "reason=test-cleanup"])
    sh("scontrol", ["delete", `nodename=${n}`])
  }
}

/** Polls `f` every `everyMs` until it returns a value (not undefined) or `timeoutMs` passes. */
export const waitFor = async <A>(what: string, f: () => A | undefined, timeoutMs: number, everyMs = 250): Promise<A> => {
  const end = performance.now() + timeoutMs
  for (;;) {
    const v = f()
    if (v !== undefined) return v
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Powers on a test VM (ci/slurm/slurm-vm.sh start); returns its address. */
export const startVm = (name: string, mode: "dynamic" | "cloud" | "selfreg", node: string, cpus = 2, features = ""): string => {
  const r = sh("bash", [VM_SCRIPT, "start", name, mode, node, String(cpus), "1000", ...(features !== "" ? [features] : [])])
  if (r.code !== 0) throw new Error(`slurm-vm.sh start ${name}: ${r.stderr.trim()}`)
  return r.stdout.trim()
}

export const stopVm = (name: string): void => {
  sh("bash", [VM_SCRIPT, "stop", name])
}

/** One node as `scontrol show node -o` prints it (FUTURE ones too), as key → value; null when unknown. */
export const showNode = (name: string): Record<string, string> | null => {
  const r = sh("scontrol", ["--future", "show", "node", "-o", name])
  if (r.code !== 0 || !r.stdout.startsWith("NodeName=")) return null
  const rec: Record<string, string> = {}
  for (const m of r.stdout.matchAll(/(\w+)=(\S*)/g)) if (!(m[1] in rec)) rec[m[1]] = m[2]
  return rec
}

/** A reservation as `scontrol show reservation -o` prints it; null when there is none. */
export const showReservation = (name: string): Record<string, string> | null => {
  const r = sh("scontrol", ["show", "reservation", "-o", name])
  if (r.code !== 0 || !r.stdout.startsWith("ReservationName=")) return null
  const rec: Record<string, string> = {}
  for (const m of r.stdout.matchAll(/(\w+)=(\S*)/g)) if (!(m[1] in rec)) rec[m[1]] = m[2]
  return rec
}
