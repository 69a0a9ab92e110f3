/**
 * Test support for the real Grid Engine brought up by ci/setup-20-sge.sh:
 * whether it is there, a queue and host group of a suite's own (suites run at
 * the same time and must not see each other's jobs), "machines" that are exec
 * hosts in network namespaces (ci/sge/sge-node.sh), qsub.
 */
import { Either } from "effect"
import { execFile, execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, it } from "vitest"
import { stopDaemon } from "../../daemon/testing/e2e.ts"
import type { Daemon } from "../../daemon/testing/process.ts"
import { decodeConfig, type ConfigFile } from "../../model/config.ts"

export const sgeScripts = fileURLToPath(new URL("../../../ci/sge/", import.meta.url)).replace(/\/$/, "")
const env = { ...process.env, SGE_ROOT: "/var/lib/gridengine", SGE_CELL: "default" }

/** Why the real Grid Engine cannot be used here, or null when it can. */
export const sgeMissing = (): string | null => {
  if (process.getuid?.() !== 0) return "the Grid Engine tests run as root (they add exec hosts in network namespaces)"
  if (!existsSync("/usr/bin/qconf") || !existsSync("/usr/sbin/sge_qmaster")) return "Grid Engine is not installed (run: bash ci/setup-20-sge.sh)"
  if (!existsSync(`${sgeScripts}/sge-node.sh`)) return `${sgeScripts}/sge-node.sh is missing`
  const r = spawnSync("/usr/bin/qconf", ["-sh"], { env, encoding: "utf8", timeout: 15_000 })
  if (r.status !== 0) return `the qmaster does not answer (qconf -sh: ${(r.stderr || r.error?.message || "").trim()}); run: bash ci/setup-20-sge.sh`
  if (!existsSync("/var/lib/sge-local/master-name")) return "ci/sge/sge-up.sh has not set this machine up"
  return null
}

/**
 * describe() for suites that need the real Grid Engine: skipped with a visible
 * message when it is missing, but failing when CI=true (CI must run them).
 */
export const describeWithSge = (name: string, body: () => void): void => {
  const missing = sgeMissing()
  if (missing === null) {
    describe(name, body)
    return
  }
  if (process.env.CI === "true") {
    describe(name, () => {
      it("needs Grid Engine (CI=true: this must not be skipped)", () => {
        throw new Error(`Grid Engine is missing in CI: ${missing}`)
      })
    })
    return
  }
  console.warn(`[${name}] skipped: ${missing}`)
  describe.skip(name, body)
}

const run = (file: string, args: ReadonlyArray<string>, timeout = 60_000): string => {
  const r = spawnSync(file, [...args], { env, encoding: "utf8", timeout })
  if (r.status !== 0) throw new Error(`${file} ${args.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || r.error?.message || "").trim()}`)
  return r.stdout
}

export const qconf = (...args: Array<string>) => run("/usr/bin/qconf", args)
export const qstat = (...args: Array<string>) => run("/usr/bin/qstat", args)

/** qsub a `sleep` job (as root, output discarded); returns its id. */
export const qsub = (opts: { queue: string; seconds: number; pe?: number; name?: string; extra?: ReadonlyArray<string> }): string => {
  const args = ["-terse", "-b", "y", "-o", "/dev/null", "-e", "/dev/null", "-q", opts.queue, "-N", opts.name ?? "dctest"]
  if (opts.pe !== undefined) args.push("-pe", "smp", String(opts.pe))
  args.push(...(opts.extra ?? []), "/bin/sleep", String(opts.seconds))
  return run("/usr/bin/qsub", args).trim().split(".")[0]
}

/** The host a finished job ran on, from Grid Engine's accounting (`qacct -j`), or null when it has no record yet. */
export const ranOn = (id: string): string | null => {
  const r = spawnSync("/usr/bin/qacct", ["-j", id], { env, encoding: "utf8", timeout: 30_000 })
  return r.status === 0 ? (/^hostname\s+(\S+)/m.exec(r.stdout)?.[1] ?? null) : null
}

/**
 * The host a finished job ran on, waiting for its accounting record: qmaster writes the accounting file on its
 * flush interval (seconds after the job ends), so `qacct -j` may not know a job that has just left the queue.
 */
export const ranOnEventually = async (id: string, ms = 60_000): Promise<string | null> => {
  const deadline = Date.now() + ms
  for (;;) {
    const host = ranOn(id)
    if (host !== null || Date.now() > deadline) return host
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** Force-deletes jobs (those already gone are ignored). */
export const qdel = (ids: ReadonlyArray<string>) => {
  if (ids.length > 0) spawnSync("/usr/bin/qdel", ["-f", ...ids], { env, timeout: 30_000 })
}

/** Job ids still known to Grid Engine (any state). */
export const liveJobs = (): ReadonlySet<string> =>
  new Set(
    qstat("-u", "*")
      .split("\n")
      .slice(2)
      .map((l) => l.trim().split(/\s+/)[0])
      .filter((x) => /^\d+$/.test(x))
  )

/** A machine: `vm` boots it (namespace, name resolves), `execd` is its contextualisation, `destroy` ends it. */
export const machine = {
  vm: (name: string) => void run("/bin/bash", [`${sgeScripts}/sge-node.sh`, "vm", name]),
  execd: (name: string) => void run("/bin/bash", [`${sgeScripts}/sge-node.sh`, "execd", name]),
  /** The machine crashes: execd and namespace gone, its name still resolves. */
  crash: (name: string) => void run("/bin/bash", [`${sgeScripts}/sge-node.sh`, "stop", name]),
  destroy: (name: string) => void run("/bin/bash", [`${sgeScripts}/sge-node.sh`, "destroy", name])
}

const runAsync = (file: string, args: ReadonlyArray<string>, timeout = 60_000): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(file, [...args], { env, encoding: "utf8", timeout }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file} ${args.join(" ")} failed: ${(stderr || err.message).trim()}`)) : resolve(stdout)
    )
  )

/** The same machines without blocking the event loop (for a cloud the engine drives). */
export const machineAsync = {
  vm: (name: string) => runAsync("/bin/bash", [`${sgeScripts}/sge-node.sh`, "vm", name]).then(() => {}),
  execd: (name: string) => runAsync("/bin/bash", [`${sgeScripts}/sge-node.sh`, "execd", name]).then(() => {}),
  destroy: (name: string) => runAsync("/bin/bash", [`${sgeScripts}/sge-node.sh`, "destroy", name]).then(() => {})
}

/**
 * Removes what a crashed earlier run may have left of a host: its config
 * entries (only when Grid Engine lists it: asking the qmaster about a name
 * that does not resolve makes it cache the failure) and the machine.
 */
export const forgetHost = (name: string, group: string) => {
  const listed = spawnSync("/usr/bin/qconf", ["-sel"], { env, encoding: "utf8", timeout: 15_000 }).stdout?.split("\n").includes(name) ?? false
  if (listed) {
    spawnSync("/usr/bin/qmod", ["-d", `*@${name}`], { env, timeout: 15_000 })
    spawnSync("/usr/bin/qconf", ["-dattr", "hostgroup", "hostlist", name, group], { env, timeout: 15_000 })
    spawnSync("/usr/bin/qconf", ["-de", name], { env, timeout: 15_000 })
  }
  spawnSync("/bin/bash", [`${sgeScripts}/sge-node.sh`, "destroy", name], { env, timeout: 30_000 })
}

/** Host names for this run (a name the qmaster once failed to resolve stays unresolvable for it). */
const RUN_ID = `${(process.pid % 1296).toString(36)}${(Date.now() % 46656).toString(36)}`
/** A name prefix of this run's own (e.g. an instance_name_prefix: the cloud appends `-NNNNN`). */
export const runPrefix = (prefix: string) => `${prefix}${RUN_ID}`
export const hostName = (prefix: string, i: number) => `${runPrefix(prefix)}-${i}`

export interface SgeTestbed {
  readonly queue: string
  readonly group: string
  /** A configuration whose cluster section drives the SGE layer on this queue (templates: the SPEC §2 defaults). */
  readonly config: (extra?: { readonly dynamicCluster?: Record<string, unknown>; readonly cloud?: Record<string, unknown>; readonly clusterConfig?: Record<string, unknown> }) => ConfigFile
  readonly close: () => void
}

/** A queue `${name}.q` on host group `@${name}` (empty), for one suite. */
export const makeSgeTestbed = (name: string): SgeTestbed => {
  const queue = `${name}.q`
  const group = `@${name}`
  run("/bin/bash", [`${sgeScripts}/sge-queue.sh`, "add", queue, group, "2"])
  return {
    queue,
    group,
    config: (extra = {}) => {
      const d = decodeConfig(
        {
          "dynamic-cluster": { policy: "classic", ...extra.dynamicCluster },
          cluster: {
            type: "sge",
            config: { queue_to_monitor: [queue], default_hostgroup: group, command_timeout: 30, ...extra.clusterConfig }
          },
          cloud: extra.cloud ?? {}
        },
        `sge testbed ${name}`
      )
      if (Either.isLeft(d)) throw d.left
      return d.right.config
    },
    close: () => {
      spawnSync("/bin/bash", [`${sgeScripts}/sge-queue.sh`, "del", queue, group], { env, timeout: 60_000 })
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Runs a shell command line as root, for the odd inspection in a test. */
export const shell = (line: string) => execFileSync("/bin/sh", ["-c", line], { env, encoding: "utf8" })

/**
 * The `cluster:` section (YAML lines) of a daemon configuration that drives
 * the SGE layer on this testbed's queue and host group, with the qstat/qhost
 * templates the daemon tests use; `extra` lines go into `cluster.config`.
 */
export const sgeClusterYaml = (tb: SgeTestbed, extra: ReadonlyArray<string> = []): Array<string> => [
  "cluster:",
  "  type: sge",
  "  config:",
  `    queue_to_monitor: [${tb.queue}]`,
  `    default_hostgroup: "${tb.group}"`,
  ...extra.map((l) => `    ${l}`),
  "    qstat_command: /usr/bin/qstat -xml -r -u *",
  "    qhost_command: /usr/bin/qhost -q -j -xml {0} {1}"
]

/** What a suite that runs `dyncluster run` against Grid Engine shares between beforeAll, its tests and afterAll. */
export interface SgeDaemonSuite {
  readonly tb: SgeTestbed
  /** A temporary directory of the suite's own (removed afterwards). */
  readonly dir: string
  /** The daemon the test started: stopped (SIGTERM) afterwards. */
  daemon: Daemon | null
  /** Jobs the test submitted: force-deleted afterwards. */
  readonly jobs: Array<string>
}

/**
 * Registers beforeAll/afterAll for a suite (inside its describe) that runs
 * the daemon against a queue and host group of its own (`name`): afterwards
 * the daemon is stopped, the jobs deleted, the hosts `hosts()` names
 * forgotten (config entries and machines), the queue removed.
 */
export const sgeDaemonSuite = (name: string, opts: { readonly hosts?: () => ReadonlyArray<string> } = {}): SgeDaemonSuite => {
  const s = { tb: null as unknown as SgeTestbed, dir: "", daemon: null as Daemon | null, jobs: [] as Array<string> }
  beforeAll(() => {
    s.tb = makeSgeTestbed(name)
    s.dir = mkdtempSync(join(tmpdir(), `dc-sge-${name}-`))
  }, 60_000)
  afterAll(async () => {
    const hosts = opts.hosts?.() ?? []
    if (s.daemon !== null) await stopDaemon(s.daemon)
    qdel(s.jobs)
    for (const h of hosts) forgetHost(h, s.tb.group)
    s.tb.close()
    rmSync(s.dir, { recursive: true, force: true })
  }, 90_000)
  return s
}
