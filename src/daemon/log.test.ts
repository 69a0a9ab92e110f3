import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Logger } from "effect"
import { describe, expect, it } from "vitest"
import { effectLogger, formatLine, LogFileError, makeLogSink, parseLevel, secretValues, type LogSinkOptions } from "./log.ts"

const T = Date.UTC(2024, 4, 1, 12, 0, 0, 123)

const capture = (o: Partial<LogSinkOptions> = {}) => {
  const lines: Array<string> = []
  const sink = makeLogSink({ level: "info", format: "json", out: (l) => lines.push(l), now: () => T, ...o })
  return { sink, lines }
}

describe("log lines", () => {
  it("json: one object per line with time, level, msg and the fields", () => {
    const { sink, lines } = capture()
    sink.log("info", "booted os-00001", { resource: "os", n: 2 })
    expect(lines).toHaveLength(1)
    expect(lines[0].endsWith("\n")).toBe(true)
    expect(JSON.parse(lines[0])).toEqual({ time: "2024-05-01T12:00:00.123Z", level: "info", msg: "booted os-00001", resource: "os", n: 2 })
  })

  it("text: timestamp, level, message, then the fields the message does not already say", () => {
    const line = formatLine("text", T, "warn", "boot of os-00001 failed", { host: "os-00001", kind: "quota", why: "two words" })
    expect(line).toBe('2024-05-01T12:00:00.123Z WARN  boot of os-00001 failed kind=quota why="two words"\n')
    expect(formatLine("text", T, "error", "a\nb", {})).toBe("2024-05-01T12:00:00.123Z ERROR a\n    b\n")
  })

  it("filters by level: 0 error .. 3 debug", () => {
    expect([0, 1, 2, 3, "debug", "WARN", "warning", "2"].map((v) => parseLevel(v))).toEqual(["error", "warn", "info", "debug", "debug", "warn", "warn", "info"])
    expect(parseLevel(4)).toBeUndefined()
    expect(parseLevel("loud")).toBeUndefined()
    const { sink, lines } = capture({ level: "warn" })
    for (const l of ["error", "warn", "info", "debug"] as const) sink.log(l, l)
    expect(lines.map((l) => JSON.parse(l).level)).toEqual(["error", "warn"])
    expect(sink.enabled("info")).toBe(false)
  })

  it("never writes a secret: secret-named fields are dropped and known secret values masked", () => {
    const { sink, lines } = capture({ secrets: ["hunter2-password", 'we"ird\\token'] })
    sink.log("info", "connecting with hunter2-password", { password: "x", nested: { secret_access_key: "y", ok: 1 }, echo: 'we"ird\\token' })
    const text = lines.join("")
    expect(text).not.toContain("hunter2")
    expect(text).not.toContain("we\\\"ird")
    expect(text).not.toMatch(/"password"|secret_access_key/)
    expect(JSON.parse(lines[0])).toEqual({ time: expect.any(String), level: "info", msg: "connecting with ***", nested: { ok: 1 }, echo: "***" })
    const t = capture({ format: "text", secrets: ["hunter2-password"] })
    t.sink.log("info", "x", { v: "hunter2-password" })
    expect(t.lines[0]).not.toContain("hunter2")
  })

  it("secretValues finds the values under password/secret/token keys at any depth", () => {
    expect(
      secretValues({ a: { password: "p1", user: "u" }, cloud: { r: { config: { secret_access_key: "k", list: ["x"] } } }, "admin-server": { token: "t0k" }, api_token: null })
    ).toEqual(["p1", "k", "t0k"])
  })
})

describe("log file", () => {
  it("rotates by size and keeps 3 old files", () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-log-"))
    const file = join(dir, "dc.log")
    const sink = makeLogSink({ level: "info", format: "json", file, maxBytes: 300, now: () => T })
    for (let i = 0; i < 40; i++) sink.log("info", `line ${String(i).padStart(3, "0")} ${"x".repeat(40)}`)
    sink.close()
    expect(readdirSync(dir).sort()).toEqual(["dc.log", "dc.log.1", "dc.log.2", "dc.log.3"])
    for (const f of ["dc.log", "dc.log.1", "dc.log.2", "dc.log.3"]) {
      const text = readFileSync(join(dir, f), "utf8")
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(300)
      for (const l of text.trim().split("\n")) expect(JSON.parse(l).level).toBe("info")
    }
    // the newest line is in the current file, and nothing newer than the oldest kept file was lost
    expect(readFileSync(file, "utf8")).toContain("line 039")
    const kept = ["dc.log.3", "dc.log.2", "dc.log.1", "dc.log"].flatMap((f) => readFileSync(join(dir, f), "utf8").trim().split("\n"))
    const nums = kept.map((l) => Number(JSON.parse(l).msg.slice(5, 8)))
    expect(nums).toEqual(nums.map((_, i) => nums[0] + i))
    sink.log("info", "after close")
    expect(readFileSync(file, "utf8")).not.toContain("after close")
  })

  it("appends to an existing file and counts its size", () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-log-"))
    const file = join(dir, "dc.log")
    writeFileSync(file, "x".repeat(250) + "\n")
    const sink = makeLogSink({ level: "info", format: "json", file, maxBytes: 300, now: () => T })
    sink.log("info", "a line that does not fit beside the old content")
    sink.close()
    expect(readFileSync(join(dir, "dc.log.1"), "utf8")).toBe("x".repeat(250) + "\n")
    expect(readFileSync(file, "utf8")).toContain("does not fit")
  })

  it("a log file that cannot be opened is a clear error", () => {
    const where = join(tmpdir(), "no-such-dir-dc", "x", "dc.log")
    expect(existsSync(where)).toBe(false)
    expect(() => makeLogSink({ level: "info", format: "json", file: where })).toThrow(LogFileError)
    expect(() => makeLogSink({ level: "info", format: "json", file: where })).toThrow(/cannot open the log file .*dc\.log: its directory does not exist/)
  })
})

describe("Effect's logger", () => {
  it("routes Effect.log* calls, with their cause, into the sink", () => {
    const { sink, lines } = capture({ level: "debug" })
    Effect.runSync(
      Effect.gen(function* () {
        yield* Effect.logWarning("careful", 3)
        yield* Effect.logError("task boot os died", new Error("boom"))
        yield* Effect.log("plain")
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, effectLogger(sink))))
    )
    const parsed = lines.map((l) => JSON.parse(l))
    expect(parsed.map((p) => [p.level, p.msg])).toEqual([
      ["warn", "careful 3"],
      ["error", expect.stringMatching(/^task boot os died Error: boom\n/)],
      ["info", "plain"]
    ])
  })
})
