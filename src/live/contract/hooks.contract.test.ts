/**
 * The Hooks contract against the no-op hooks (layerNoHooks, what the
 * simulator runs) and the live command hooks built from a configuration file
 * (layerCommandHooks), with real commands: a script recording its arguments, a
 * failing command, one that never ends. No network.
 */
import { Either } from "effect"
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { layerNoHooks } from "../../engine/services.ts"
import { layerCommandHooks } from "../../daemon/hooks.ts"
import type { Level } from "../../daemon/log.ts"
import { engineSettings, parseConfigText } from "../../model/config.ts"
import { HOOKS, hooksContract, type HooksBehaviour } from "./hooks-contract.ts"

const scratch = mkdtempSync(join(tmpdir(), "dyncluster-hooks-contract-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const HANG_TIMEOUT_MS = 300

hooksContract("no hooks (layerNoHooks, the simulator's)", async () => ({
  layer: layerNoHooks,
  received: { none: "the no-op hooks run no command" },
  warnings: { none: "the no-op hooks run nothing, so nothing can fail" },
  hangWithinMs: 1_000,
  close: async () => {}
}))

const script = (body: string) => {
  const path = join(scratch, `hook-${Math.random().toString(36).slice(2)}.sh`)
  writeFileSync(path, `#!/bin/sh\n${body}\n`)
  chmodSync(path, 0o755)
  return path
}

hooksContract("live command hooks (layerCommandHooks, real commands)", async (b: HooksBehaviour) => {
  const out = join(scratch, `calls-${Math.random().toString(36).slice(2)}.txt`)
  const program =
    b === "record" ? script(`{ printf '%s|' "$@"; printf '\\n'; } >> ${out}`) : b === "fail" ? script("exit 3") : script("exec sleep 30")
  // every value quoted, so an empty one stays an argument
  const tmpl = (hook: string, n: number) => `'${program} ${hook} ${Array.from({ length: n }, (_, i) => `"{${i}}"`).join(" ")}'`
  const t = Object.fromEntries(HOOKS.map(([hook, n]) => [hook, tmpl(hook, n)]))
  const cfg = parseConfigText(`
dynamic-cluster:
  post_vm_provision_command: ${t.post_vm_provision_command}
  post_vm_destroy_command: ${t.post_vm_destroy_command}
cluster:
  type: torque
  config:
    post_add_node_command: ${t.post_add_node_command}
    post_remove_node_command: ${t.post_remove_node_command}
cloud: {}
`)
  if (Either.isLeft(cfg)) throw new Error(String(cfg.left))
  const lines: Array<{ level: Level; msg: string }> = []
  const log = { log: (level: Level, msg: string) => void lines.push({ level, msg }) }
  return {
    layer: layerCommandHooks(engineSettings(cfg.right.config), log, HANG_TIMEOUT_MS),
    received: async () => (existsSync(out) ? readFileSync(out, "utf8").split("\n").filter((l) => l !== "") : []),
    warnings: () => lines.filter((l) => l.level === "warn").map((l) => l.msg),
    hangWithinMs: HANG_TIMEOUT_MS + 3_000,
    close: async () => {}
  }
})
