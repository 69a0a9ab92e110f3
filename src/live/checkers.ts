/**
 * Configuration checkers (SPEC §2 `config-checker`): is a new VM done with
 * its contextualisation and ready to join the cluster?
 *
 * - `{port: {number: N, timeout: S}}`: Ready when TCP port N of the VM
 *   accepts a connection within S seconds (default 5).
 * - `{command: {command: "tmpl {0} {1}", timeout: S}}` (or
 *   `{plugin: {name: command, command: ..., timeout: ...}}`): the template is
 *   run through the safe command runner with `{0}` host name, `{1}` IP and
 *   `{2}` instance name; exit code 0 means Ready.
 * - none: Active counts as Ready.
 *
 * The classic Salt highstate checker (`{plugin: {name: ...}}` with any other
 * name) does not exist here: that is a clear error at start-up, not a node
 * that never becomes Ready.
 */
import { Data, Duration, Effect, Either, Layer } from "effect"
import { Socket } from "node:net"
import { CheckError, Checker, noChecker, type CheckerService } from "../engine/services.ts"
import type { CheckerConfig } from "../model/config.ts"
import type { Instance } from "../model/types.ts"
import { runCommand, splitTemplate } from "./command.ts"

/** A `dynamic-cluster.config-checker` that cannot be used; the message names its key. */
export class CheckerSetupError extends Data.TaggedError("CheckerSetupError")<{ readonly message: string }> {}

const DEFAULT_PORT_TIMEOUT = 5
const DEFAULT_COMMAND_TIMEOUT = 60

/** Where to reach the VM: its address, else its DNS name. */
const target = (inst: Instance): string | null => inst.ip ?? inst.dns_name ?? null

/** One TCP connection attempt; true when the port accepted it. Never fails. */
export const tcpConnect = (host: string, port: number, timeoutSeconds: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = new Socket()
    let done = false
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.once("connect", () => finish(true))
    socket.once("error", () => finish(false))
    socket.connect({ host, port })
    return Effect.sync(() => {
      done = true
      socket.destroy()
    })
  }).pipe(Effect.timeoutTo({ duration: Duration.seconds(timeoutSeconds), onTimeout: () => false, onSuccess: (b) => b }))

export const portChecker = (port: number, timeoutSeconds = DEFAULT_PORT_TIMEOUT): CheckerService => ({
  check: (inst) =>
    Effect.suspend(() => {
      const host = target(inst)
      if (host === null) {
        return Effect.fail(new CheckError({ instance: inst.instance_name ?? inst.uuid ?? "?", message: "the instance has no address yet" }))
      }
      return tcpConnect(host, port, timeoutSeconds)
    })
})

export const commandChecker = (template: string, timeoutSeconds = DEFAULT_COMMAND_TIMEOUT): CheckerService => ({
  check: (inst) => {
    const name = inst.instance_name ?? inst.uuid ?? ""
    const host = inst.dns_name ?? inst.instance_name ?? ""
    return runCommand(template, [host, inst.ip ?? "", name], { timeoutMs: Math.round(timeoutSeconds * 1000) }).pipe(
      Effect.map((r) => r.exitCode === 0),
      Effect.mapError((e) => new CheckError({ instance: name, message: `checker command: ${e.message}` }))
    )
  }
})

const positive = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0

/**
 * The checker of `dynamic-cluster.config-checker`. Throws CheckerSetupError
 * (with the key path) for a checker that cannot work.
 */
export const makeChecker = (cfg: CheckerConfig | null | undefined): Either.Either<CheckerService, CheckerSetupError> => {
  const at = "dynamic-cluster.config-checker"
  const fail = (m: string) => Either.left(new CheckerSetupError({ message: m }))
  if (cfg === null || cfg === undefined) return Either.right(noChecker)
  const kinds = (["port", "command", "plugin"] as const).filter((k) => cfg[k] !== undefined)
  if (kinds.length === 0) return Either.right(noChecker)
  if (kinds.length > 1) return fail(`${at}: give one checker, not ${kinds.join(" and ")}`)
  const command = (tmpl: unknown, timeout: unknown, path: string) => {
    if (typeof tmpl !== "string" || tmpl.trim() === "") return fail(`${path}.command: expected a command template such as "/usr/local/bin/ready.sh {0} {1}"`)
    if (timeout !== undefined && !positive(timeout)) return fail(`${path}.timeout: expected a positive number (seconds), got ${JSON.stringify(timeout)}`)
    const split = splitTemplate(tmpl)
    if (Either.isLeft(split)) return fail(`${path}.command: ${split.left.message}`)
    if (split.right.placeholders > 3) return fail(`${path}.command: only {0} (host name), {1} (IP) and {2} (instance name) are available`)
    return Either.right(commandChecker(tmpl, (timeout as number | undefined) ?? DEFAULT_COMMAND_TIMEOUT))
  }
  if (cfg.port !== undefined) return Either.right(portChecker(cfg.port.number, cfg.port.timeout ?? DEFAULT_PORT_TIMEOUT))
  if (cfg.command !== undefined) return command(cfg.command.command, cfg.command.timeout, `${at}.command`)
  const plugin = cfg.plugin!
  if (plugin.name === "command") return command(plugin.command, plugin.timeout, `${at}.plugin`)
  if (plugin.name === "port") {
    const n = plugin.number
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535) return fail(`${at}.plugin.number: expected a TCP port number, got ${JSON.stringify(n)}`)
    return Either.right(portChecker(n, positive(plugin.timeout) ? plugin.timeout : DEFAULT_PORT_TIMEOUT))
  }
  return fail(
    `${at}.plugin.name: the checker plugin ${JSON.stringify(plugin.name)} is not available in this version ` +
      `(the classic Salt checker was not carried over); use {port: {number: N}} or {command: {command: "..."}} ` +
      `(a command whose exit code 0 means Ready, e.g. one that asks Salt), or remove config-checker so Active counts as Ready`
  )
}

/** The live checker of `dynamic-cluster.config-checker`: port, command (also as plugins of those names). */
export const registryCheckerFactory = (cfg: CheckerConfig | null | undefined): Effect.Effect<CheckerService, CheckerSetupError> =>
  Either.match(makeChecker(cfg), { onLeft: (e) => Effect.fail(e), onRight: (c) => Effect.succeed(c) })

/**
 * The live Checker layer of `dynamic-cluster.config-checker` (no checker
 * configured: layerNoChecker's service); fails with CheckerSetupError naming
 * the key of a checker that cannot work.
 */
export const layerChecker = (cfg: CheckerConfig | null | undefined): Layer.Layer<Checker, CheckerSetupError> =>
  Layer.effect(Checker, registryCheckerFactory(cfg))
