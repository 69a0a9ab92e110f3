/**
 * `dyncluster run`: the daemon. `--sim SCENARIO` runs the engine on the
 * simulated world (virtual clock `--speed` times real time); `--config FILE`
 * runs it on the live cluster and clouds the configuration names. Both serve
 * the REST API, the dashboard and /metrics. See docs/daemon.md.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { runDaemon } from "../daemon/main.ts"
import { allowUnknownKeysOption, floatOption, integerOption, policyHelp, withUnknownKeysHint } from "./options.ts"

const opt = <A>(o: Options.Options<A>, description: string) => Options.optional(Options.withDescription(o, description))

const options = {
  sim: opt(Options.text("sim"), "run on the simulated world of this scenario file (YAML)"),
  config: opt(Options.text("config"), "run on the live cluster and clouds of this configuration file (YAML)"),
  speed: opt(floatOption("speed"), "--sim: virtual seconds per real second (default 1)"),
  seed: opt(integerOption("seed"), "--sim: override the scenario's seed"),
  policy: opt(Options.text("policy"), `provisioning policy (default: the configuration's dynamic-cluster.policy): ${policyHelp()}`),
  port: opt(integerOption("port"), "API/dashboard port (default: admin-server.port, 8001; 0 = any free port)"),
  host: opt(Options.text("host"), "address to bind (default: admin-server.host, 127.0.0.1)"),
  logFormat: opt(Options.text("log-format"), "text or json (default: text on a terminal, json otherwise)"),
  logLevel: opt(Options.text("log-level"), "0 error, 1 warn, 2 info, 3 debug, or the name (default: logging.log_level)"),
  events: opt(Options.text("events"), "--sim: write the world's event log (JSON Lines) to this file"),
  dryRun: Options.withDescription(
    Options.boolean("dry-run"),
    "shadow mode: observe the batch system and clouds and decide every step, but call no mutating operation (no boot, destroy, hold, remove, add node, hook command); decisions are marked dry_run"
  ),
  decisions: opt(Options.text("decisions"), "write every decision and the queue's job observations as JSON Lines to this file (for `dyncluster shadow-report`)"),
  bootTime: opt(
    Options.text("boot-time"),
    "--config --dry-run: seconds until a would-be node is ready, SECONDS or RES=SECONDS,... (default 300; under --sim the scenario's boot and configuration times)"
  ),
  grace: opt(floatOption("grace"), "seconds running cloud tasks get to finish on shutdown (default 10)"),
  allowUnknownKeys: allowUnknownKeysOption
}

export const runCommand = Command.make("run", options, (o) =>
  runDaemon({
    sim: Option.getOrUndefined(o.sim),
    config: Option.getOrUndefined(o.config),
    speed: Option.getOrUndefined(o.speed),
    seed: Option.getOrUndefined(o.seed),
    policy: Option.getOrUndefined(o.policy),
    port: Option.getOrUndefined(o.port),
    host: Option.getOrUndefined(o.host),
    logFormat: Option.getOrUndefined(o.logFormat),
    logLevel: Option.getOrUndefined(o.logLevel),
    events: Option.getOrUndefined(o.events),
    grace: Option.getOrUndefined(o.grace),
    dryRun: o.dryRun,
    decisions: Option.getOrUndefined(o.decisions),
    bootTime: Option.getOrUndefined(o.bootTime),
    allowUnknownKeys: o.allowUnknownKeys
  }).pipe(
    Effect.catchTag("DaemonError", (e) =>
      Console.error(`dyncluster run: ${withUnknownKeysHint(e.message)}`).pipe(Effect.zipRight(Effect.sync(() => process.exit(1))))
    )
  )
).pipe(Command.withDescription("Run the scaler: on the simulated world (--sim SCENARIO) or the live cluster (--config FILE), with the REST API and dashboard; --dry-run decides without acting"))
