/**
 * The Hooks contract (DESIGN.md "one interface, two implementations, one
 * contract suite"): what the engine relies on from any HooksService, run
 * through its Layer against the no-op hooks of the simulator and the live
 * command hooks (src/daemon/hooks.ts) with real commands.
 *
 * What every implementation must do: `run` always completes, for every hook
 * and whatever the values (a refused value, a failing, missing or hanging
 * command is logged as a warning naming the hook, never raised); a hanging
 * command is cut off; each value reaches the command as one argument, in
 * order.
 */
import { Cause, Effect, Exit, type Layer } from "effect"
import { describe, expect, it } from "vitest"
import { Hooks, type HookName } from "../../engine/services.ts"
import { openHarnesses } from "./harnesses.ts"

export type HooksBehaviour =
  /** every hook runs a command that records `hook|v0|v1|...|` (each value quoted in the template), one line per call */
  | "record"
  /** every hook runs a command that exits non-zero */
  | "fail"
  /** every hook runs a command that would never end by itself */
  | "hang"

export interface HooksHarness {
  readonly layer: Layer.Layer<Hooks>
  /** The lines the record commands wrote; `none` when the implementation runs no command (the reason is printed). */
  readonly received: (() => Promise<ReadonlyArray<string>>) | { readonly none: string }
  /** Warnings the implementation logged; `none` when it runs nothing, so nothing can fail. */
  readonly warnings: (() => ReadonlyArray<string>) | { readonly none: string }
  /** How long (ms) a hanging hook may take before `run` returns. */
  readonly hangWithinMs: number
  readonly close: () => Promise<void>
}

export const HOOKS: ReadonlyArray<readonly [HookName, number]> = [
  ["post_vm_provision_command", 4],
  ["post_vm_destroy_command", 4],
  ["post_add_node_command", 2],
  ["post_remove_node_command", 2]
]

const run = (layer: Layer.Layer<Hooks>, hook: HookName, args: ReadonlyArray<string>) =>
  Effect.runPromiseExit(Effect.flatMap(Hooks, (h) => h.run(hook, args)).pipe(Effect.provide(layer)))

const expectCompleted = (exit: Exit.Exit<void, unknown>, what: string) =>
  expect(Exit.isSuccess(exit), `${what}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`).toBe(true)

export const hooksContract = (name: string, make: (b: HooksBehaviour) => Promise<HooksHarness>): void => {
  describe(`Hooks contract: ${name}`, () => {
    const harness = openHarnesses(make)
    const skip = (what: string, why: string) => console.warn(`[Hooks contract: ${name}] ${what} skipped: ${why}`)

    it("each value reaches the command as one argument, in order", async () => {
      const h = await harness("record")
      const values = ["wn-1.example", "10.0.0.1", "wn-1", "--help", "", "x,y=z:1/2"]
      for (const [hook, n] of HOOKS) expectCompleted(await run(h.layer, hook, values.slice(0, n)), hook)
      expectCompleted(await run(h.layer, "post_add_node_command", ["wn[1]", "--help"]), "glob-like and option values")
      expectCompleted(await run(h.layer, "post_remove_node_command", ["wn-2", ""]), "empty value")
      if ("none" in h.received) return skip("argument check", h.received.none)
      expect(await h.received()).toEqual([
        "post_vm_provision_command|wn-1.example|10.0.0.1|wn-1|--help|",
        "post_vm_destroy_command|wn-1.example|10.0.0.1|wn-1|--help|",
        "post_add_node_command|wn-1.example|10.0.0.1|",
        "post_remove_node_command|wn-1.example|10.0.0.1|",
        "post_add_node_command|wn[1]|--help|",
        "post_remove_node_command|wn-2||"
      ])
      if (!("none" in h.warnings)) expect(h.warnings()).toEqual([])
    })

    it("a value it refuses is logged naming the hook and never raised; nothing runs with it", async () => {
      const h = await harness("record")
      const bad = ["bad host;reboot", "$(reboot)", "`id`", "a b", "'q'"]
      for (const v of bad) expectCompleted(await run(h.layer, "post_add_node_command", [v, "10.0.0.1"]), `value ${JSON.stringify(v)}`)
      if ("none" in h.received) return skip("refused-value check", h.received.none)
      expect(await h.received()).toEqual([])
      if ("none" in h.warnings) return skip("warning check", h.warnings.none)
      const w = h.warnings()
      expect(w.length).toBe(bad.length)
      for (const line of w) expect(line).toMatch(/^post_add_node_command /)
    })

    it("a failing command is logged naming the hook and never raised", async () => {
      const h = await harness("fail")
      for (const [hook, n] of HOOKS) expectCompleted(await run(h.layer, hook, Array(n).fill("wn-1")), hook)
      if ("none" in h.warnings) return skip("warning check", h.warnings.none)
      const w = h.warnings()
      expect(w.length).toBe(HOOKS.length)
      HOOKS.forEach(([hook], i) => expect(w[i]).toMatch(new RegExp(`^${hook} `)))
    })

    it("a hanging command is cut off, logged naming the hook and never raised", async () => {
      const h = await harness("hang")
      const started = Date.now()
      expectCompleted(await run(h.layer, "post_vm_provision_command", ["wn-1", "10.0.0.1", "wn-1", "os"]), "hanging hook")
      expect(Date.now() - started).toBeLessThan(h.hangWithinMs)
      if ("none" in h.warnings) return skip("warning check", h.warnings.none)
      expect(h.warnings()).toEqual([expect.stringMatching(/^post_vm_provision_command /)])
    })
  })
}
