/**
 * A bad command line (a value of the wrong type, an unknown option) is named
 * once on stderr with exit code 1, without a dump of @effect/cli's error value;
 * help and those errors are plain text unless printed to a terminal.
 */
import { CliConfig, Command, HelpDoc } from "@effect/cli"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import { Console, Effect, HashMap } from "effect"
import { execa } from "execa"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { subcommands } from "./commands.ts"
import { bracketRepeated, formatHelp, helpWidth, isHelpRequest, wrapLine } from "./help-format.ts"
import { plainConsole, stripAnsi, wantsColour } from "./plain-console.ts"

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
    // the error names the option (@effect/cli's own says only "'abc' is not a integer")
    expect(seed.stderr.trim()).toBe("--seed: expected an integer, got 'abc'")
    expect(unknown.stderr).toMatch(/--no-such-option/)
  })
})

describe("soak --replay of a bad scenario file", () => {
  it("names the file and what is wrong in it, exit code 1", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-replay-"))
    try {
      const text = readFileSync(join(ROOT, "scenarios/regressions/min-waits-for-starting.yaml"), "utf8")
      const bad = join(dir, "bad.yaml")
      writeFileSync(bad, text.replace("policy: classic }", "policy: bogus }"))
      const r = await dyncluster("soak", "--replay", bad)
      expect(r.exitCode).toBe(1)
      expect(r.stderr).not.toMatch(/unknown error/i)
      expect(r.stderr).toContain(bad)
      expect(r.stderr).toMatch(/dynamic-cluster\.policy: unknown policy "bogus"/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("help and command-line errors outside a terminal", () => {
  const ESC = "\x1b"
  // Only what a shell user has: no FORCE_COLOR/NO_COLOR inherited from the test runner.
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...extra })
  const run = (args: Array<string>, extra?: Record<string, string>) =>
    execa("node", [join(ROOT, "bin/dyncluster.js"), ...args], { cwd: ROOT, reject: false, extendEnv: false, env: env(extra) })
  const script = ["/usr/bin/script", "/bin/script"].find((p) => existsSync(p))

  it("help is plain text when piped (no ANSI colour codes); FORCE_COLOR=1 keeps the colours", { timeout: 90_000 }, async () => {
    // (command-line errors go through the same Console, stderr side: see the plainConsole test below)
    const [help, forced] = await Promise.all([run(["--help"]), run(["--help"], { FORCE_COLOR: "1" })])
    expect(help.exitCode).toBe(0)
    expect(help.stdout).toMatch(/^USAGE$/m)
    expect(help.stdout).not.toContain(ESC)
    expect(forced.stdout).toContain(`${ESC}[0;1mUSAGE${ESC}[0m`)
  })

  it.skipIf(script === undefined)(
    script === undefined ? "on a terminal (SKIPPED: util-linux `script` not found)" : "on a terminal: coloured, except with NO_COLOR",
    { timeout: 90_000 },
    async () => {
      // `script` gives the command a pseudo-terminal and copies what it prints.
      const tty = (extra?: Record<string, string>) =>
        execa(script!, ["-qec", `node ${join(ROOT, "bin/dyncluster.js")} --help`, "/dev/null"], { cwd: ROOT, reject: false, extendEnv: false, env: env(extra) })
      const [coloured, plain] = await Promise.all([tty(), tty({ NO_COLOR: "1" })])
      expect(coloured.stdout).toContain(`${ESC}[0;1mUSAGE${ESC}[0m`)
      expect(plain.stdout).toMatch(/^USAGE\r?$/m)
      expect(plain.stdout).not.toContain(ESC)
    }
  )
})

describe("wantsColour / plainConsole", () => {
  it("FORCE_COLOR decides when set, then NO_COLOR, then whether the stream is a terminal", () => {
    expect(wantsColour(true, {})).toBe(true)
    expect(wantsColour(false, {})).toBe(false)
    expect(wantsColour(undefined, {})).toBe(false)
    expect(wantsColour(true, { NO_COLOR: "1" })).toBe(false)
    expect(wantsColour(true, { NO_COLOR: "" })).toBe(true)
    expect(wantsColour(false, { FORCE_COLOR: "1" })).toBe(true)
    expect(wantsColour(false, { FORCE_COLOR: "" })).toBe(true)
    expect(wantsColour(true, { FORCE_COLOR: "0" })).toBe(false)
    expect(wantsColour(true, { FORCE_COLOR: "false", NO_COLOR: "" })).toBe(false)
    expect(wantsColour(false, { FORCE_COLOR: "1", NO_COLOR: "1" })).toBe(true)
  })

  it("strips colour codes from strings printed to a plain stream only", () => {
    const printed: Array<[string, ReadonlyArray<unknown>]> = []
    const base = Effect.runSync(Effect.console)
    const recording: Console.Console = {
      ...base,
      log: (...args) => Effect.sync(() => void printed.push(["log", args])),
      error: (...args) => Effect.sync(() => void printed.push(["error", args]))
    }
    const red = "\x1b[0;31mred\x1b[0m"
    const c = plainConsole(recording, false, true)
    Effect.runSync(Effect.zipRight(c.log(red, 7), c.error(red)))
    expect(printed).toEqual([["log", ["red", 7]], ["error", [red]]])
    expect(plainConsole(recording, true, true)).toBe(recording)
    expect(stripAnsi("\x1b[0;1m\x1b[0;37;1mdyncluster\x1b[0;1m\x1b[0m")).toBe("dyncluster")
  })
})

describe("help that fits", () => {
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...extra })
  const help = (args: Array<string>, extra?: Record<string, string>) =>
    execa("node", [join(ROOT, "bin/dyncluster.js"), ...args, "--help"], { cwd: ROOT, reject: false, extendEnv: false, env: env(extra) })
  const longest = (text: string) => Math.max(...text.split("\n").map((l) => l.length))

  it("every command's and subcommand's help fits the width, optional options in brackets, the policies listed", () => {
    // in-process: the help @effect/cli renders for each command, through the same formatHelp
    const texts = subcommands.flatMap((c) => {
      const own = stripAnsi(HelpDoc.toAnsiText(Command.getHelp(c as any, CliConfig.defaultConfig)))
      const subs = [...HashMap.values(Command.getSubcommands(c as any))].map((d) =>
        stripAnsi(HelpDoc.toAnsiText(Descriptor.getHelp(d, CliConfig.defaultConfig)))
      )
      return [own, ...subs]
    })
    expect(texts.length).toBeGreaterThanOrEqual(subcommands.length + 3)
    for (const width of [100, 80]) {
      for (const t of texts) expect(longest(formatHelp(t, width)), t.slice(0, 200)).toBeLessThanOrEqual(width)
    }
    const sim = formatHelp(texts.find((t) => t.includes("--set text"))!, 100)
    expect(sim).toMatch(/classic,\s+demand,\s+lean \(default:/)
    expect(sim).toContain("--seed integer\n\n  An integer.")
  })

  it("COLUMNS=100 dyncluster simulate --help: no line over 100; 80 when COLUMNS is unset off a terminal", { timeout: 300_000 }, async () => {
    const [at100, plain] = await Promise.all([help(["simulate"], { COLUMNS: "100" }), help(["simulate"])])
    expect(at100.exitCode).toBe(0)
    expect(at100.stdout).toMatch(/^USAGE$/m)
    expect(longest(at100.stdout)).toBeLessThanOrEqual(100)
    expect(longest(at100.stdout)).toBeGreaterThan(80)
    expect(at100.stdout).toContain("[--set text]...")
    expect(longest(plain.stdout)).toBeLessThanOrEqual(80)
  })

  it("wraps a line with its indentation, brackets repeatable options in usage lines", () => {
    expect(wrapLine("  aaa bbb ccc ddd", 10)).toEqual(["  aaa bbb", "  ccc ddd"])
    expect(wrapLine("short", 10)).toEqual(["short"])
    expect(bracketRepeated("$ simulate [--seed integer] --set text... <SCENARIO>")).toBe("$ simulate [--seed integer] [--set text]... <SCENARIO>")
    expect(formatHelp("$ x --aaaa --bbbb --cccc", 12)).toBe("$ x --aaaa\n  --bbbb\n  --cccc")
    expect(helpWidth({ COLUMNS: "100" }, 120)).toBe(100)
    expect(helpWidth({}, 120)).toBe(120)
    expect(helpWidth({}, undefined)).toBe(80)
    expect(helpWidth({ COLUMNS: "x" }, undefined)).toBe(80)
    expect(isHelpRequest([])).toBe(true)
    expect(isHelpRequest(["simulate", "-h"])).toBe(true)
    expect(isHelpRequest(["simulate", "x.yaml"])).toBe(false)
  })
})

describe("the AWS SDK's Node version warning", () => {
  const major = Number(process.versions.node.split(".")[0])
  it("is silenced in the CLI, and only it (the SDK's own switch, which an explicit setting overrides)", { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-nodewarn-"))
    try {
      const file = join(dir, "aws.yaml")
      writeFileSync(
        file,
        "cluster: {type: torque}\ncloud:\n  a: {type: aws, quantity: {max: 1}, config: {region_name: ap-southeast-2, image_id: ami-1234abcd, instance_type: t3.small, instance_name_prefix: dcw}}\n"
      )
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }
      const run = (extra: Record<string, string> = {}) =>
        execa("node", [join(ROOT, "bin/dyncluster.js"), "check-config", file], { cwd: ROOT, reject: false, extendEnv: false, env: { ...env, ...extra } })
      const [quiet, loud] = await Promise.all([run(), run({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "false" })])
      expect(quiet.exitCode, quiet.stderr).toBe(0)
      expect(quiet.stderr).not.toMatch(/NodeVersionSupportWarning/)
      // the configuration builds an EC2 client, which warns on Node < 22 unless silenced
      if (major < 22) expect(loud.stderr).toMatch(/NodeVersionSupportWarning/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
