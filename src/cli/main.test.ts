/**
 * A bad command line (a value of the wrong type, an unknown option) is named
 * once on stderr with exit code 1, without a dump of @effect/cli's error value.
 */
import { execa } from "execa"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const dyncluster = (...args: Array<string>) =>
  execa("node", [join(ROOT, "bin/dyncluster.js"), ...args], { cwd: ROOT, reject: false, env: { FORCE_COLOR: "0" } })

describe("a bad command line", () => {
  it("is named once, exit code 1", { timeout: 60_000 }, async () => {
    const [seed, unknown] = await Promise.all([
      dyncluster("simulate", "scenarios/quickstart.yaml", "--seed", "abc"),
      dyncluster("simulate", "scenarios/quickstart.yaml", "--no-such-option")
    ])
    for (const r of [seed, unknown]) {
      expect(r.exitCode).toBe(1)
      expect(r.stdout).toBe("")
      expect(r.stderr).not.toMatch(/_tag|ERROR \(#/)
    }
    expect(seed.stderr.trim()).toBe("'abc' is not a integer")
    expect(unknown.stderr).toMatch(/--no-such-option/)
  })
})
