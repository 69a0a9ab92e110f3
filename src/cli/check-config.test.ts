/**
 * A production configuration names a supported policy (classic, demand,
 * lean): `check-config` and `run --config` refuse a variant or any other
 * experiment, naming dynamic-cluster.policy and the supported policies,
 * while a simulation still runs it (`simulate --policy`).
 */
import { Effect } from "effect"
import { execa } from "execa"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runDaemon } from "../daemon/main.ts"
import { BIN, REPO } from "../daemon/testing/process.ts"

const dir = mkdtempSync(join(tmpdir(), "dc-policy-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const configWith = (policy: string) => {
  const path = join(dir, `${policy.replace(/[^a-z]/g, "_")}.yaml`)
  writeFileSync(path, `dynamic-cluster: {policy: ${policy}}\ncluster: {type: sge}\ncloud:\n  a: {type: simulated, quantity: {max: 2}, config: {cores: 2}}\n`)
  return path
}
const SUPPORTED = /dynamic-cluster\.policy: "demand-no-pool\+fitfast" is not a supported policy \(supported: classic, demand, lean\)/

describe("a configuration naming an experiment", () => {
  it("check-config fails naming dynamic-cluster.policy and the supported policies", async () => {
    const bad = await execa(process.execPath, [BIN, "check-config", configWith("demand-no-pool+fitfast")], { cwd: REPO, reject: false })
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toMatch(SUPPORTED)
    const good = await execa(process.execPath, [BIN, "check-config", configWith("demand")], { cwd: REPO, reject: false })
    expect(good.stderr).toBe("")
    expect(good.exitCode).toBe(0)
  }, 120_000)

  it("run --config stops at start-up with the same words; run --policy too", async () => {
    const failure = (o: Parameters<typeof runDaemon>[0]) => Effect.runPromise(Effect.flip(runDaemon(o))).then((e) => e.message)
    expect(await failure({ config: configWith("demand-no-pool+fitfast"), port: 0 })).toMatch(SUPPORTED)
    expect(await failure({ config: configWith("lean"), policy: "demand+hedge", port: 0 })).toMatch(
      /^--policy: "demand\+hedge" is not a supported policy \(supported: classic, demand, lean\)/
    )
  })
})
