/**
 * The Checker contract (DESIGN.md "one interface, two implementations, one
 * contract suite"): what the engine relies on from any CheckerService, run
 * through its Layer against no checker, the simulated checker and the live
 * port and command checkers (src/live/checkers.ts) on 127.0.0.1.
 *
 * What every checker must do: say true for a VM that is done and false for
 * one that is not; answer for any instance (unknown, without an address,
 * with odd names) as a boolean or a CheckError, never a defect; give the
 * same answer when asked again; and end a check that hangs within its bound.
 */
import { Cause, Effect, Exit, type Layer } from "effect"
import { describe, expect, it } from "vitest"
import { Checker, CheckError } from "../../engine/services.ts"
import { emptyInstance, InstanceState, type Instance } from "../../model/types.ts"
import { openHarnesses } from "./harnesses.ts"

export interface CheckerHarness {
  readonly layer: Layer.Layer<Checker>
  /** An instance this checker must call Ready. */
  readonly ready: () => Promise<Instance>
  /** An instance that is not done yet; null when the implementation has no such notion (the reason is printed). */
  readonly notReady: (() => Promise<Instance>) | { readonly none: string }
  /** An instance whose check cannot finish by itself, and the bound (ms) within which the checker must answer anyway. */
  readonly hanging: { readonly instance: () => Promise<Instance>; readonly withinMs: number } | { readonly none: string }
  readonly close: () => Promise<void>
}

const check = (layer: Layer.Layer<Checker>, inst: Instance) =>
  Effect.runPromiseExit(Effect.flatMap(Checker, (c) => c.check(inst)).pipe(Effect.provide(layer)))

const answer = async (layer: Layer.Layer<Checker>, inst: Instance): Promise<boolean> => {
  const exit = await check(layer, inst)
  if (Exit.isFailure(exit)) throw new Error(`expected an answer, got ${Cause.pretty(exit.cause)}`)
  return exit.value
}

/** A boolean, or a CheckError; anything else (a defect, another error, an interruption) breaks the contract. */
const expectAnswerOrCheckError = (exit: Exit.Exit<boolean, unknown>, what: string) => {
  if (Exit.isSuccess(exit)) return expect(typeof exit.value, what).toBe("boolean")
  const failure = Cause.failureOption(exit.cause)
  expect(failure._tag === "Some" && failure.value instanceof CheckError, `${what}: ${Cause.pretty(exit.cause)}`).toBe(true)
}

export const checkerContract = (name: string, make: () => Promise<CheckerHarness>): void => {
  describe(`Checker contract: ${name}`, () => {
    const harness = openHarnesses(make)

    it("a VM that is done is Ready (true)", async () => {
      const h = await harness()
      expect(await answer(h.layer, await h.ready())).toBe(true)
    })

    it("a VM that is not done yet is not Ready (false)", async () => {
      const h = await harness()
      if ("none" in h.notReady) return void console.warn(`[Checker contract: ${name}] not-ready test skipped: ${h.notReady.none}`)
      expect(await answer(h.layer, await h.notReady())).toBe(false)
    })

    it("answers for any instance without throwing: unknown, addressless or oddly named gives a boolean or a CheckError", async () => {
      const h = await harness()
      const base = await h.ready()
      const odd: Array<[string, Instance]> = [
        ["empty (no uuid, name or address)", emptyInstance(base.cloud_resource, 0)],
        ["never booted", { ...base, uuid: "never-booted-0000", instance_name: "never-booted", dns_name: "never-booted.invalid", ip: null }],
        ["odd names", { ...base, uuid: "x; reboot", instance_name: "$(reboot)", dns_name: "-rf", ip: "not an ip" }],
        ["deleted", { ...base, state: InstanceState.Inexistent, ip: null, dns_name: null }]
      ]
      for (const [what, inst] of odd) expectAnswerOrCheckError(await check(h.layer, inst), what)
    })

    it("asking again gives the same answer (a check changes nothing)", async () => {
      const h = await harness()
      const r = await h.ready()
      const first = await answer(h.layer, r)
      expect([first, await answer(h.layer, r), await answer(h.layer, r)]).toEqual([true, true, true])
      if ("none" in h.notReady) return
      const n = await h.notReady()
      expect([await answer(h.layer, n), await answer(h.layer, n)]).toEqual([false, false])
    })

    it("a check that hangs ends within its bound, as false or a CheckError", async () => {
      const h = await harness()
      if ("none" in h.hanging) return void console.warn(`[Checker contract: ${name}] hanging test skipped: ${h.hanging.none}`)
      const inst = await h.hanging.instance()
      const started = Date.now()
      const exit = await check(h.layer, inst)
      expect(Date.now() - started).toBeLessThan(h.hanging.withinMs)
      if (Exit.isSuccess(exit)) expect(exit.value).toBe(false)
      else expectAnswerOrCheckError(exit, "hanging check")
    })
  })
}
