/**
 * `slurm-resume` / `slurm-suspend` exactly as `dyncluster` runs them (same
 * commands, options and code), but booting through the network-namespace
 * Cloud of the tests instead of OpenStack/EC2. slurmctld runs this as its
 * ResumeProgram/SuspendProgram in slurm-power.integration.test.ts (through
 * $SLURM_LOCAL_DIR/etc/power-hook). Settings come from the environment:
 * NETNS_CLOUD_DIR, NETNS_CLOUD_PREFIX, NETNS_CLOUD_FAIL_NODES (comma list).
 *
 *   node --import tsx power-main.ts slurm-resume -c CONFIG HOSTLIST
 */
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { makeSlurmPowerCommands } from "../../../cli/slurm-power.ts"
import type { CloudService } from "../../../engine/services.ts"
import { makeNetnsCloud } from "./netnsCloud.ts"
import { VM_SCRIPT } from "./paths.ts"

const env = (k: string): string => {
  const v = process.env[k]
  if (v === undefined || v === "") throw new Error(`${k} is not set`)
  return v
}

const { resume, suspend } = makeSlurmPowerCommands((config) =>
  Effect.try({
    catch: (e) => ({ message: `power-main: ${e instanceof Error ? e.message : String(e)}` }),
    try: () => {
    const failNodes = (process.env.NETNS_CLOUD_FAIL_NODES ?? "").split(",").filter((x) => x !== "")
    const cloud = makeNetnsCloud({
      script: VM_SCRIPT,
      stateDir: env("NETNS_CLOUD_DIR"),
      prefix: env("NETNS_CLOUD_PREFIX"),
      mode: "cloud",
      cores: 2,
      memMb: 1000,
      failNodes
    })
    return new Map<string, CloudService>(Object.keys(config.cloud).map((r) => [r, cloud]))
    }
  })
)

const root = Command.make("dyncluster-test").pipe(Command.withSubcommands([resume, suspend]))
Command.run(root, { name: "dyncluster-test", version: "0" })(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)
