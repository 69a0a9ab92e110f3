/**
 * The operator commands of SPEC §2 (post_vm_provision_command,
 * post_vm_destroy_command, post_add_node_command, post_remove_node_command)
 * run through the safe command runner: values are validated and never pasted
 * into a shell line. A failing hook is logged and never stops the engine.
 */
import { Effect } from "effect"
import type { HookName, HooksService } from "../engine/services.ts"
import { runCommand } from "../live/command.ts"
import type { EngineSettings } from "../model/config.ts"
import type { LogSink } from "./log.ts"

/** Hooks may do real work (DNS, configuration management); they get five minutes. */
export const HOOK_TIMEOUT_MS = 5 * 60_000

export const hookTemplates = (s: EngineSettings): Readonly<Record<HookName, string | null>> => ({
  post_vm_provision_command: s.postVmProvisionCommand,
  post_vm_destroy_command: s.postVmDestroyCommand,
  post_add_node_command: s.postAddNodeCommand,
  post_remove_node_command: s.postRemoveNodeCommand
})

export const commandHooks = (settings: EngineSettings, log: LogSink, timeoutMs = HOOK_TIMEOUT_MS): HooksService => {
  const templates = hookTemplates(settings)
  return {
    run: (hook, args) => {
      const template = templates[hook]
      if (template === null) return Effect.void
      return runCommand(template, args, { timeoutMs }).pipe(
        Effect.matchEffect({
          onFailure: (e) => Effect.sync(() => log.log("warn", `${hook} failed: ${e.message}`, { hook, args: [...args] })),
          onSuccess: (r) =>
            Effect.sync(() => {
              if (r.exitCode === 0) log.log("debug", `${hook} done`, { hook, args: [...args] })
              else log.log("warn", `${hook} exited with code ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().slice(0, 500)}` : ""}`, { hook, args: [...args] })
            })
        })
      )
    }
  }
}
