/**
 * `dyncluster slurm-resume HOSTLIST` and `dyncluster slurm-suspend HOSTLIST`:
 * Slurm's ResumeProgram and SuspendProgram for `cluster.mode: power_save`
 * (see docs/slurm.md). Slurm decides which State=CLOUD nodes run; these boot
 * and destroy their VMs through the configured clouds, record which node
 * runs on which instance, and put a node whose VM cannot be booted DOWN so
 * Slurm requeues its jobs.
 *
 * Exit code: 0 every node done, 1 some node failed (and was put DOWN on
 * resume), 2 nothing could be done (configuration, host list, state file).
 */
import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Either, Option, type Scope } from "effect"
import type { CloudService } from "../engine/services.ts"
import { makeRunner } from "../live/batch-commands.ts"
import { loadConfigFile, type ConfigFile } from "../model/config.ts"
import { slurmSettings, unknownSlurmKeys, type SlurmTemplate } from "../live/slurm/config.ts"
import { slurmResume, slurmSuspend, type PowerOutcome } from "../live/slurm/power.ts"

/** The Cloud service of each resource of the configuration. */
export type PowerClouds = (config: ConfigFile) => Effect.Effect<ReadonlyMap<string, CloudService>, { readonly message: string }, Scope.Scope>

/** The live clouds (cloud.<res>.type openstack, aws), loaded only when a command runs. */
export const livePowerClouds: PowerClouds = (config) =>
  Effect.flatMap(
    Effect.promise(() => import("../live/cloud.ts")),
    (m) => Effect.map(m.makeLiveClouds(config), (c) => c.resources)
  )

export const DEFAULT_CONFIG = "/etc/dyncluster/config.yaml"

const configOption = Options.text("config").pipe(
  Options.withAlias("c"),
  Options.optional,
  Options.withDescription(`the dyncluster configuration file (default: $DYNCLUSTER_CONFIG, else ${DEFAULT_CONFIG})`)
)
const hostlistArg = Args.text({ name: "HOSTLIST" }).pipe(Args.withDescription("the nodes, as Slurm passes them (e.g. cloud[1-3,7])"))

const stamp = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

const exitWith = (code: number) => Effect.sync(() => process.exit(code))

/** Both subcommands, booting through `clouds` (the live ones in `dyncluster`; the tests pass their own). */
export const makeSlurmPowerCommands = (clouds: PowerClouds) => {
  const handler =
    (what: "resume" | "suspend") =>
    ({ config, hostlist }: { readonly config: Option.Option<string>; readonly hostlist: string }) =>
      Effect.scoped(
        Effect.gen(function* () {
          const path = Option.getOrElse(config, () => process.env.DYNCLUSTER_CONFIG ?? DEFAULT_CONFIG)
          const prefix = `dyncluster slurm-${what}`
          const loaded = loadConfigFile(path)
          if (Either.isLeft(loaded)) {
            yield* Console.error(`${prefix}: ${loaded.left.message}`)
            return yield* exitWith(2)
          }
          const cfg = loaded.right.config
          if (cfg.cluster.type !== "slurm") {
            yield* Console.error(`${prefix}: ${path}: cluster.type is ${cfg.cluster.type}; slurm-${what} is for cluster.type slurm with cluster.mode power_save`)
            return yield* exitWith(2)
          }
          const settings = slurmSettings(cfg)
          if (Either.isLeft(settings)) {
            yield* Console.error(`${prefix}: ${path}: ${settings.left.message}`)
            return yield* exitWith(2)
          }
          if (settings.right.mode !== "power_save") {
            yield* Console.error(`${prefix}: ${path}: cluster.mode is not power_save (Slurm's power saving would fight the scaler over the nodes)`)
            return yield* exitWith(2)
          }
          for (const w of unknownSlurmKeys(cfg.cluster.config)) yield* Console.error(`${prefix}: warning: ${w}`)
          const log = (line: string) => Effect.runSync(Effect.flatMap(stamp, (t) => Console.log(`${t} ${line}`)))
          // Without clouds a resume must still put its nodes DOWN (else Slurm waits ResumeTimeout): carry on with none.
          const byResource = yield* Effect.either(clouds(cfg))
          if (Either.isLeft(byResource)) yield* Console.error(`${prefix}: the clouds could not be set up: ${byResource.left.message}`)
          const deps = {
            settings: settings.right,
            runner: makeRunner<SlurmTemplate>(settings.right, { timeoutMs: Math.round(settings.right.command_timeout * 1000) }),
            clouds: Either.isRight(byResource) ? byResource.right : new Map<string, CloudService>(),
            maxOf: (r: string) => cfg.cloud[r]?.quantity.max ?? 0,
            log
          }
          const run = what === "resume" ? slurmResume(deps, hostlist) : slurmSuspend(deps, hostlist)
          const outcomes = yield* Effect.either(run)
          if (Either.isLeft(outcomes)) {
            yield* Console.error(`${prefix}: ${outcomes.left.message}`)
            return yield* exitWith(2)
          }
          const failed = outcomes.right.filter((o: PowerOutcome) => !o.ok)
          if (failed.length > 0) {
            yield* Console.error(`${prefix}: ${failed.length} of ${outcomes.right.length} node(s) failed: ${failed.map((o) => `${o.node} (${o.message})`).join("; ")}`)
            return yield* exitWith(1)
          }
        })
      )

  const resume = Command.make("slurm-resume", { config: configOption, hostlist: hostlistArg }, handler("resume")).pipe(
    Command.withDescription("Slurm ResumeProgram (cluster.mode power_save): boot a VM for each node of HOSTLIST and tell Slurm its address; a node that cannot be booted is set DOWN")
  )
  const suspend = Command.make("slurm-suspend", { config: configOption, hostlist: hostlistArg }, handler("suspend")).pipe(
    Command.withDescription("Slurm SuspendProgram (cluster.mode power_save): destroy the VM of each node of HOSTLIST")
  )
  return { resume, suspend } as const
}

const live = makeSlurmPowerCommands(livePowerClouds)
export const slurmResumeCommand = live.resume
export const slurmSuspendCommand = live.suspend
