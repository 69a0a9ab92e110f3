/**
 * The hook commands: real commands through the safe runner, the values as
 * single arguments, failures logged and never raised, malformed templates
 * refused with their key.
 */
import { Effect, Either } from "effect"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeEach, describe, expect, it } from "vitest"
import { engineSettings, parseConfigText } from "../model/config.ts"
import { checkHookTemplates, commandHooks, templateHooks } from "./hooks.ts"
import type { Level } from "./log.ts"

const scratch = mkdtempSync(join(tmpdir(), "dyncluster-hooks-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const lines: Array<{ level: Level; msg: string; fields: Readonly<Record<string, unknown>> | undefined }> = []
const log = { log: (level: Level, msg: string, fields?: Readonly<Record<string, unknown>>) => void lines.push({ level, msg, fields }) }
const warnings = () => lines.filter((l) => l.level === "warn").map((l) => l.msg)
beforeEach(() => void (lines.length = 0))

const recorder = () => {
  const out = join(scratch, `hook-${Math.random().toString(36).slice(2)}.txt`)
  const script = join(scratch, `hook-${Math.random().toString(36).slice(2)}.sh`)
  writeFileSync(script, `#!/bin/sh\nprintf '%s|' "$@" >> ${out}\n`)
  chmodSync(script, 0o755)
  return { script, read: () => readFileSync(out, "utf8") }
}

describe("hooks", () => {
  it("runs each configured hook with its values as single arguments", async () => {
    const { script, read } = recorder()
    const hooks = templateHooks(
      { post_vm_provision_command: `${script} prov {0} {1} {2} {3}`, post_add_node_command: `${script} add {0} "{1}"`, post_remove_node_command: `${script} rm {0} {1}` },
      log
    )
    await Effect.runPromise(hooks.run("post_vm_provision_command", ["wn-1.example", "10.0.0.1", "wn-1", "os"]))
    await Effect.runPromise(hooks.run("post_add_node_command", ["wn-1.example", ""]))
    // unquoted, an empty value vanishes as in the shell (classic behaviour)
    await Effect.runPromise(hooks.run("post_remove_node_command", ["wn-1.example", ""]))
    await Effect.runPromise(hooks.run("post_vm_destroy_command", ["x", "y", "z", "w"])) // not configured: nothing
    expect(read()).toBe("prov|wn-1.example|10.0.0.1|wn-1|os|add|wn-1.example||rm|wn-1.example|")
    expect(warnings()).toEqual([])
    expect(lines.map((l) => `${l.level} ${l.msg}`)).toEqual([
      "debug post_vm_provision_command done",
      "debug post_add_node_command done",
      "debug post_remove_node_command done"
    ])
  })

  it("failures, timeouts and missing programs are logged, never raised", async () => {
    const hooks = templateHooks(
      {
        post_vm_destroy_command: "sh -c 'exit 3' {0}",
        post_remove_node_command: "sleep 30 {0}",
        post_add_node_command: "/nonexistent/hook {0}"
      },
      log,
      300
    )
    await Effect.runPromise(hooks.run("post_vm_destroy_command", ["h", "", "", ""]))
    await Effect.runPromise(hooks.run("post_remove_node_command", ["1", ""]))
    await Effect.runPromise(hooks.run("post_add_node_command", ["h", ""]))
    await Effect.runPromise(hooks.run("post_add_node_command", ["bad host;reboot", ""]))
    const w = warnings()
    expect(w[0]).toMatch(/post_vm_destroy_command exited with code 3/)
    expect(w[1]).toMatch(/post_remove_node_command failed: .*timed out/)
    expect(w[2]).toMatch(/post_add_node_command failed: /)
    expect(w[3]).toMatch(/post_add_node_command failed: invalid arg/)
    expect(lines[3]?.fields).toEqual({ hook: "post_add_node_command", args: ["bad host;reboot", ""] })
  })

  it("the engine's hooks come from the configuration file", async () => {
    const { script, read } = recorder()
    const cfg = parseConfigText(`
dynamic-cluster:
  post_vm_provision_command: "${script} prov {0} {3}"
cluster:
  type: torque
  config:
    post_add_node_command: "${script} add {0}"
cloud: {}
`)
    const hooks = commandHooks(engineSettings(Either.getOrThrow(cfg).config), log)
    await Effect.runPromise(hooks.run("post_vm_provision_command", ["wn-1", "10.0.0.1", "wn-1", "os"]))
    await Effect.runPromise(hooks.run("post_add_node_command", ["wn-1", "10.0.0.1"]))
    await Effect.runPromise(hooks.run("post_remove_node_command", ["wn-1", "10.0.0.1"])) // not configured
    expect(read()).toBe("prov|wn-1|os|add|wn-1|")
  })

  it("a malformed template is a start-up error naming its key", () => {
    const r = checkHookTemplates({ post_add_node_command: "add {0} {7}" })
    expect(Either.isLeft(r) && r.left.message).toMatch(/^cluster\.config\.post_add_node_command: uses \{7\}/)
    const q = checkHookTemplates({ post_vm_provision_command: "x 'unterminated" })
    expect(Either.isLeft(q) && q.left.message).toMatch(/^dynamic-cluster\.post_vm_provision_command: unterminated/)
    expect(Either.isRight(checkHookTemplates({ post_vm_destroy_command: "rm {0} {1} {2} {3}", post_add_node_command: null }))).toBe(true)
  })
})
