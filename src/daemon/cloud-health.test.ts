/**
 * Issue 20, finding 6: the auth mark of a resource clears once the cloud
 * accepts the credentials again even when nothing is queued (a cheap read
 * call every cloud poll interval while it is marked), and the engine's
 * warnings that repeat every poll are rate-limited.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { EngineLogEvent } from "../engine/engine.ts"
import { CloudError, type CloudService } from "../engine/services.ts"
import { makeCloudHealth } from "./cloud-health.ts"
import { limitRepeats } from "./log-limit.ts"

const refusing = () => {
  const calls: Array<string> = []
  let refuse = true
  const no = (op: string) => Effect.fail(new CloudError({ resource: "aws", op, kind: "auth", message: "AuthFailure: AWS was not able to validate the provided access credentials" }))
  const cloud: CloudService = {
    list: () => (calls.push("list"), refuse ? no("list") : Effect.succeed([])),
    boot: () => (calls.push("boot"), no("boot")),
    refresh: () => (calls.push("refresh"), no("refresh")),
    destroy: () => (calls.push("destroy"), no("destroy")),
    coresPerNode: () => (calls.push("cores"), refuse ? no("cores") : Effect.succeed(2))
  }
  return { cloud, calls, fix: () => (refuse = false) }
}

describe("cloud health", () => {
  it("a refused resource is re-checked with one list call, and the mark clears once the key is fixed, with nothing queued", async () => {
    const h = makeCloudHealth()
    const c = refusing()
    const w = h.watch("aws", c.cloud)
    const other = h.watch("os", refusing().cloud)
    await Effect.runPromise(Effect.ignore(w.coresPerNode("aws")))
    expect(h.view().aws.auth).toBe(false)
    // still refused: the recheck keeps the mark
    await Effect.runPromise(h.recheck)
    expect(h.view().aws.auth).toBe(false)
    c.fix()
    c.calls.length = 0
    await Effect.runPromise(h.recheck)
    expect(c.calls).toEqual(["list"])
    expect(h.view().aws).toEqual({ auth: true, error: null, since: null })
    // a resource that is fine is not called
    expect(h.view().os.auth).toBe(true)
    void other
    c.calls.length = 0
    await Effect.runPromise(h.recheck)
    expect(c.calls).toEqual([])
  })

  it("the same warning every poll is logged once per 5 minutes, then with how many were left out", () => {
    const out: Array<EngineLogEvent> = []
    const log = limitRepeats((e) => out.push(e))
    for (let t = 0; t < 400; t += 10) {
      log({ t, level: "warn", msg: `cannot list the instances of aws: list: AuthFailure (request ${t}); will retry` })
      log({ t, level: "info", msg: "an info line is never limited" })
    }
    const warns = out.filter((e) => e.level === "warn")
    expect(warns.map((e) => e.t)).toEqual([0, 300])
    expect(warns[1].msg).toMatch(/\(29 more like it in the last 300 s not logged\)$/)
    expect(out.filter((e) => e.level === "info").length).toBe(40)
  })
})
