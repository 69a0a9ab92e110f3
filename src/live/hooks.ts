/**
 * The operator's hook commands (SPEC §2): `post_vm_provision_command` and
 * `post_vm_destroy_command` (`{0}` host name, `{1}` IP, `{2}` instance name,
 * `{3}` resource), `post_add_node_command` and `post_remove_node_command`
 * (`{0}` host name, `{1}` IP). They run through the safe command runner with
 * a timeout; a hook that fails, times out or cannot start is logged and
 * never stops the engine.
 */
import { Effect, Either } from "effect"
import type { HookName, HooksService } from "../engine/services.ts"
import type { EngineSettings } from "../model/config.ts"
import { runCommand, splitTemplate } from "./command.ts"

export class HookSetupError extends Error {
  readonly _tag = "HookSetupError"
}

const PLACES: Record<HookName, { readonly path: string; readonly values: number; readonly what: string }> = {
  post_vm_provision_command: { path: "dynamic-cluster.post_vm_provision_command", values: 4, what: "{0} host, {1} IP, {2} instance name, {3} resource" },
  post_vm_destroy_command: { path: "dynamic-cluster.post_vm_destroy_command", values: 4, what: "{0} host, {1} IP, {2} instance name, {3} resource" },
  post_add_node_command: { path: "cluster.config.post_add_node_command", values: 2, what: "{0} host, {1} IP" },
  post_remove_node_command: { path: "cluster.config.post_remove_node_command", values: 2, what: "{0} host, {1} IP" }
}

export interface HookOptions {
  /** Seconds before a hook command is killed (default 120). */
  readonly timeoutSeconds?: number
  /** Where failures go (default: Effect.logWarning). */
  readonly log?: (message: string, fields: Record<string, unknown>) => Effect.Effect<void>
}

export type HookTemplates = Readonly<Partial<Record<HookName, string | null>>>

export const hookTemplates = (s: EngineSettings): HookTemplates => ({
  post_vm_provision_command: s.postVmProvisionCommand,
  post_vm_destroy_command: s.postVmDestroyCommand,
  post_add_node_command: s.postAddNodeCommand,
  post_remove_node_command: s.postRemoveNodeCommand
})

const defaultLog = (message: string, fields: Record<string, unknown>) => Effect.logWarning(message).pipe(Effect.annotateLogs(fields))

/** Checks every configured template now (a malformed one is a start-up error naming its key) and returns the service. */
export const makeHooks = (templates: HookTemplates, options: HookOptions = {}): Either.Either<HooksService, HookSetupError> => {
  for (const [hook, tmpl] of Object.entries(templates) as Array<[HookName, string | null | undefined]>) {
    if (tmpl === null || tmpl === undefined) continue
    const p = PLACES[hook]
    const split = splitTemplate(tmpl)
    if (Either.isLeft(split)) return Either.left(new HookSetupError(`${p.path}: ${split.left.message}`))
    if (split.right.placeholders > p.values) {
      return Either.left(new HookSetupError(`${p.path}: uses {${split.right.placeholders - 1}}, but only ${p.what} are available`))
    }
  }
  const timeoutMs = Math.round((options.timeoutSeconds ?? 120) * 1000)
  const log = options.log ?? defaultLog
  return Either.right({
    run: (hook, args) => {
      const tmpl = templates[hook]
      if (tmpl === null || tmpl === undefined) return Effect.void
      return runCommand(tmpl, args, { timeoutMs }).pipe(
        Effect.flatMap((r) =>
          r.exitCode === 0
            ? Effect.void
            : log(`${hook} exited with code ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().slice(0, 300)}` : ""}`, { hook, args, exitCode: r.exitCode })
        ),
        Effect.catchAll((e) => log(`${hook} failed: ${e.message}`, { hook, args, reason: e.reason })),
        // A hook must never take the engine down, whatever happens inside it.
        Effect.catchAllDefect((d) => log(`${hook} crashed: ${String(d)}`, { hook, args }))
      )
    }
  })
}

/** The hooks of a loaded configuration. */
export const makeHooksFromSettings = (s: EngineSettings, options: HookOptions = {}) => makeHooks(hookTemplates(s), options)
