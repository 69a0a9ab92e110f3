/**
 * DESIGN.md: errors are values (`Data.TaggedError`). No class of src extends
 * Error directly; the errors that used to (issue #16) carry their tag and
 * keep the messages users read.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { HookSetupError } from "./daemon/hooks.ts"
import { LogFileError } from "./daemon/log.ts"
import { UnknownPolicyError } from "./engine/policy.ts"
import { CheckerSetupError } from "./live/checkers.ts"
import { ConfigError } from "./model/config.ts"
import { RegressionFileError } from "./sim/harness.ts"
import { EventLogError } from "./sim/report.ts"

const SRC = fileURLToPath(new URL(".", import.meta.url))
const sources = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : []
  })

describe("tagged errors", () => {
  it("no class in src extends Error", () => {
    const found = sources(SRC).filter((f) => /class\s+\w+\s+extends\s+Error\b/.test(readFileSync(f, "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "")))
    expect(found.map((f) => relative(SRC, f))).toEqual([])
  })

  it("each carries its tag and the message users read", () => {
    const cases: Array<[Error & { readonly _tag: string }, string, string]> = [
      [new ConfigError(["a: bad"], "dc.yaml"), "ConfigError", "dc.yaml: invalid configuration\n  - a: bad"],
      [new HookSetupError({ message: "h: bad" }), "HookSetupError", "h: bad"],
      [new LogFileError({ message: "cannot open the log file x" }), "LogFileError", "cannot open the log file x"],
      [new UnknownPolicyError("x"), "UnknownPolicyError", 'unknown policy "x" (known: classic, demand, lean)'],
      [new EventLogError(3, "not JSON"), "EventLogError", "event log line 3: not JSON"],
      [new RegressionFileError({ message: "r.yaml: bad" }), "RegressionFileError", "r.yaml: bad"],
      [new CheckerSetupError({ message: "c: bad" }), "CheckerSetupError", "c: bad"]
    ]
    for (const [e, tag, message] of cases) {
      expect(e).toBeInstanceOf(Error)
      expect(e._tag).toBe(tag)
      expect(e.message).toBe(message)
    }
    expect(new EventLogError(3, "x").line).toBe(3)
    expect(new ConfigError(["p"], "s", "cannot read").problems).toEqual(["p"])
  })
})
