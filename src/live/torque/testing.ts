/**
 * Test support: a Torque/Maui made of the real captures in ../shared/fixtures,
 * replayed by the scripts in ./testbin (which record every argument vector
 * they are called with), and the Torque layer pointed at it.
 */
import { Effect, Either } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { ClusterService } from "../../engine/services.ts"
import { decodeConfig, type ConfigFile } from "../../model/config.ts"
import { makeTorqueClusterService, torqueSettings } from "./layer.ts"

export const testbin = fileURLToPath(new URL("./testbin/", import.meta.url)).replace(/\/$/, "")
export const fixturesDir = fileURLToPath(new URL("../../../../shared/fixtures/", import.meta.url)).replace(/\/$/, "")
export const haveTorqueFixtures = ["torque/pbsnodes_x_64nodes.xml", "torque/qstat_x_fyrd_stanford.xml", "maui/checknode_P690-032.txt", "maui/diagnose_p.txt", "maui/showres_n.txt"].every(
  (f) => existsSync(join(fixturesDir, f))
)

/** The classic templates of SPEC §2 / the seed config, with /usr/bin replaced by the test scripts. */
export const recordedTemplates = (bin = testbin): Record<string, string> => ({
  qstat_command: `${bin}/qstat -x -t`,
  pbsnodes_command: `${bin}/pbsnodes {0} {1}`,
  add_node_command: `${bin}/qmgr -c "create node {0}"`,
  check_node_command: `${bin}/checknode {0}`,
  remove_node_command: `${bin}/qmgr -c "delete node {0}"`,
  set_node_command: `${bin}/qmgr -c "set node {0} {1} {2} {3}"`,
  diagnose_p_command: `${bin}/diagnose -p`,
  showres_command: `${bin}/showres -n | grep {0}`,
  setres_command: `${bin}/setres {0} {1} {2}`,
  releaseres_command: `${bin}/releaseres \`${bin}/showres -n | grep User | grep {0} | grep {1} | awk '{{print $3}}' \``,
  delete_job_command: `${bin}/qdel -p {0}`,
  signal_job_command: `${bin}/qsig -s {0} {1}`
})

export interface RecordedTorque {
  readonly dir: string
  readonly config: ConfigFile
  readonly cluster: ClusterService
  readonly env: Record<string, string>
  /** Argument vectors recorded since the last call (argv[0] is the command's base name). */
  readonly takeArgv: () => ReadonlyArray<ReadonlyArray<string>>
  /** Starts a job on a created node; returns its short id. */
  readonly runJob: (host: string, cores?: number) => string
  readonly finishJob: (id: string) => void
  /** Makes a part of the recorded system fail ("torque-down", "maui-down") or print garbage ("garbage"). */
  readonly fault: (kind: "torque-down" | "maui-down" | "garbage", on: boolean) => void
  readonly close: () => void
}

export interface RecordedTorqueOptions {
  readonly clusterConfig?: Record<string, unknown>
  /** How many checknode calls a freshly created node stays unknown to Maui (default 1). */
  readonly mauiLag?: number
}

export const makeRecordedTorque = async (opts: RecordedTorqueOptions = {}): Promise<RecordedTorque> => {
  const dir = mkdtempSync(join(tmpdir(), "dyncluster-torque-"))
  const log = join(dir, "argv.log")
  writeFileSync(log, "")
  const env = {
    FAKE_TORQUE_DIR: join(dir, "state"),
    FAKE_TORQUE_FIXTURES: fixturesDir,
    DYNCLUSTER_ARGV_LOG: log,
    FAKE_MAUI_LAG: String(opts.mauiLag ?? 1)
  }
  const fake = (...args: Array<string>) => execFileSync(process.execPath, [join(testbin, "fake-torque.mjs"), ...args], { env: { ...process.env, ...env }, encoding: "utf8" })
  fake("init")
  const decoded = decodeConfig(
    {
      "dynamic-cluster": { policy: "classic" },
      cluster: {
        type: "torque",
        config: { ...recordedTemplates(), command_timeout: 30, retry_interval: 0.05, add_node_timeout: 60, remove_node_timeout: 60, ...opts.clusterConfig }
      }
    },
    "recorded torque"
  )
  if (Either.isLeft(decoded)) throw decoded.left
  const config = decoded.right.config
  const settings = Either.getOrThrowWith(torqueSettings(config), (e) => new Error(e.message))
  const cluster = await Effect.runPromise(makeTorqueClusterService(settings, { env }))
  let offset = 0
  return {
    dir,
    config,
    cluster,
    env,
    takeArgv: () => {
      const all = readFileSync(log, "utf8")
      const fresh = all.slice(offset)
      offset = all.length
      return fresh
        .split("\x1e")
        .filter((r) => r !== "")
        .map((r) => r.split("\x1f").slice(0, -1))
    },
    runJob: (host, cores = 1) => fake("run-job", host, String(cores)).trim(),
    finishJob: (id) => void fake("finish-job", id),
    fault: (kind, on) => {
      const f = join(env.FAKE_TORQUE_DIR, kind)
      if (on) writeFileSync(f, "")
      else rmSync(f, { force: true })
    },
    close: () => rmSync(dir, { recursive: true, force: true })
  }
}
