/**
 * The operator commands of SPEC §2 (post_vm_provision_command,
 * post_vm_destroy_command: `{0}` host name, `{1}` IP, `{2}` instance name,
 * `{3}` resource; post_add_node_command, post_remove_node_command: `{0}` host
 * name, `{1}` IP) run through the safe command runner: values are validated
 * and never pasted into a shell line. A failing hook is logged and never
 * stops the engine. checkHookTemplates is what start-up checks
 * (`dyncluster check-config`) refuse.
 */
import { Data, Effect, Either, Layer } from "effect"
import { Hooks, type HookName, type HooksService } from "../engine/services.ts"
import { runCommand, splitTemplate } from "../live/command.ts"
import type { EngineSettings } from "../model/config.ts"
import type { LogSink } from "./log.ts"

/** Hooks may do real work (DNS, configuration management); they get five minutes. */
export const HOOK_TIMEOUT_MS = 5 * 60_000

export type HookTemplates = Readonly<Partial<Record<HookName, string | null>>>

export const hookTemplates = (s: EngineSettings): Readonly<Record<HookName, string | null>> => ({
  post_vm_provision_command: s.postVmProvisionCommand,
  post_vm_destroy_command: s.postVmDestroyCommand,
  post_add_node_command: s.postAddNodeCommand,
  post_remove_node_command: s.postRemoveNodeCommand
})

/** A hook template that cannot be used; the message names its key. */
export class HookSetupError extends Data.TaggedError("HookSetupError")<{ readonly message: string }> {}

const PLACES: Record<HookName, { readonly path: string; readonly values: number; readonly what: string }> = {
  post_vm_provision_command: { path: "dynamic-cluster.post_vm_provision_command", values: 4, what: "{0} host, {1} IP, {2} instance name, {3} resource" },
  post_vm_destroy_command: { path: "dynamic-cluster.post_vm_destroy_command", values: 4, what: "{0} host, {1} IP, {2} instance name, {3} resource" },
  post_add_node_command: { path: "cluster.config.post_add_node_command", values: 2, what: "{0} host, {1} IP" },
  post_remove_node_command: { path: "cluster.config.post_remove_node_command", values: 2, what: "{0} host, {1} IP" }
}

/** The first configured template that does not split or uses more values than its hook gets, as an error naming its key. */
export const checkHookTemplates = (templates: HookTemplates): Either.Either<HookTemplates, HookSetupError> => {
  for (const [hook, tmpl] of Object.entries(templates) as Array<[HookName, string | null | undefined]>) {
    if (tmpl === null || tmpl === undefined) continue
    const p = PLACES[hook]
    const split = splitTemplate(tmpl)
    if (Either.isLeft(split)) return Either.left(new HookSetupError({ message: `${p.path}: ${split.left.message}` }))
    if (split.right.placeholders > p.values) {
      return Either.left(new HookSetupError({ message: `${p.path}: uses {${split.right.placeholders - 1}}, but only ${p.what} are available` }))
    }
  }
  return Either.right(templates)
}

/** The hooks of `templates` (an absent or null one does nothing), failures logged as warnings on `log`. */
export const templateHooks = (templates: HookTemplates, log: Pick<LogSink, "log">, timeoutMs = HOOK_TIMEOUT_MS): HooksService => ({
  run: (hook, args) => {
    const template = templates[hook]
    if (template === null || template === undefined) return Effect.void
    return runCommand(template, args, { timeoutMs }).pipe(
      Effect.matchEffect({
        onFailure: (e) => Effect.sync(() => log.log("warn", `${hook} failed: ${e.message}`, { hook, args: [...args] })),
        onSuccess: (r) =>
          Effect.sync(() => {
            if (r.exitCode === 0) log.log("debug", `${hook} done`, { hook, args: [...args] })
            else log.log("warn", `${hook} exited with code ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().slice(0, 500)}` : ""}`, { hook, args: [...args] })
          })
      }),
      // A hook must never take the engine down, whatever happens inside it.
      Effect.catchAllDefect((d) => Effect.sync(() => log.log("warn", `${hook} crashed: ${String(d)}`, { hook, args: [...args] })))
    )
  }
})

/** The hooks of a loaded configuration (what the engine runs). */
export const commandHooks = (settings: EngineSettings, log: Pick<LogSink, "log">, timeoutMs = HOOK_TIMEOUT_MS): HooksService =>
  templateHooks(hookTemplates(settings), log, timeoutMs)

/** The live Hooks layer: the command hooks of a loaded configuration (the simulator's: layerNoHooks in src/engine/services.ts). */
export const layerCommandHooks = (settings: EngineSettings, log: Pick<LogSink, "log">, timeoutMs = HOOK_TIMEOUT_MS): Layer.Layer<Hooks> =>
  Layer.succeed(Hooks, commandHooks(settings, log, timeoutMs))
