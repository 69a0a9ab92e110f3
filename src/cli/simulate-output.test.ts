/**
 * `dyncluster simulate --events/--report` with a path that cannot be
 * written: one line naming the option, the path and the reason, exit 1,
 * before anything runs or is written (not a raw ENOENT / SystemError).
 */
import { execa } from "execa"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { outputProblem, writeFailure } from "./output-file.ts"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))
const QUICKSTART = join(ROOT, "scenarios/quickstart.yaml")
const tmp = mkdtempSync(join(tmpdir(), "simulate-output-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const simulate = (...args: Array<string>) =>
  execa("node", [join(ROOT, "bin/dyncluster.js"), "simulate", QUICKSTART, ...args], { cwd: ROOT, reject: false, env: { FORCE_COLOR: "0" } })

describe("outputProblem / writeFailure", () => {
  it("names the directory that is missing, a file in the way, or a directory given as the file", () => {
    const missing = join(tmp, "no", "such", "dir")
    expect(outputProblem(join(missing, "x.log"))).toBe(`the directory ${missing} does not exist (create it first)`)
    const file = join(tmp, "plain.txt")
    writeFileSync(file, "")
    expect(outputProblem(join(file, "x.log"))).toBe(`${file} is not a directory`)
    expect(outputProblem(join(file, "a", "x.log"))).toBe(`${file} is not a directory`)
    expect(outputProblem(tmp)).toBe("it is a directory (give a file name)")
    expect(outputProblem(join(tmp, "fine.jsonl"))).toBeNull()
    expect(outputProblem(file)).toBeNull()
  })

  it("a failed write says why in words, without Node's code and call", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })
    expect(writeFailure(join(tmp, "ok.log"), enospc)).toBe("no space left on the device")
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), { code: "ENOENT" })
    expect(writeFailure(join(tmp, "gone", "y"), enoent)).toBe(`the directory ${join(tmp, "gone")} does not exist (create it first)`)
  })

  it.skipIf(process.getuid?.() === 0)("a directory without write permission (skipped as root, who may write anywhere)", () => {
    const ro = join(tmp, "ro")
    mkdirSync(ro)
    chmodSync(ro, 0o500)
    try {
      expect(outputProblem(join(ro, "x.log"))).toBe(`no permission to create files in ${ro}`)
    } finally {
      chmodSync(ro, 0o700)
    }
  })
})

describe("dyncluster simulate with an output path that cannot be written", () => {
  it("--events /missing/dir/x.log, --report in a missing directory, --report naming a directory: one line each, exit 1, nothing run or written", async () => {
    const missing = join(tmp, "missing", "dir")
    const events = join(tmp, "written-first.jsonl")
    const [ev, rep, dir] = await Promise.all([
      simulate("--events", join(missing, "x.log")),
      // the report is only written after the run: it is checked before the run (and before the events file is created)
      simulate("--events", events, "--report", join(missing, "r.html")),
      simulate("--report", tmp, "--json")
    ])
    expect(ev.exitCode).toBe(1)
    expect(ev.stderr).toBe(`--events: cannot write ${join(missing, "x.log")}: the directory ${missing} does not exist (create it first)`)
    expect(ev.stdout).toBe("")
    expect(rep.exitCode).toBe(1)
    expect(rep.stderr).toBe(`--report: cannot write ${join(missing, "r.html")}: the directory ${missing} does not exist (create it first)`)
    expect(rep.stdout).toBe("")
    expect(existsSync(events)).toBe(false)
    expect(dir.exitCode).toBe(1)
    expect(dir.stderr).toBe(`--report: cannot write ${tmp}: it is a directory (give a file name)`)
    expect(dir.stdout).toBe("")
  }, 120_000)
})
