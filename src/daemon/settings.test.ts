import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { decodeConfig, type ConfigFile } from "../model/config.ts"
import { resolveSettings, TOKEN_ENV } from "./settings.ts"

const config = (extra: Record<string, unknown> = {}): ConfigFile => {
  const r = decodeConfig({ cluster: { type: "torque" }, ...extra })
  if (Either.isLeft(r)) throw r.left
  return r.right.config
}

const ok = (...args: Parameters<typeof resolveSettings>) => {
  const r = resolveSettings(...args)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

describe("daemon settings", () => {
  it("defaults: 127.0.0.1:8001, no token, info, text on a terminal and json otherwise", () => {
    const s = ok(config(), {}, {}, true)
    expect(s).toMatchObject({ host: "127.0.0.1", port: 8001, token: null, tokenSource: null, tokenForReads: false, graphite: null })
    expect(s.log).toEqual({ level: "info", format: "text", file: null, maxBytes: 10 * 1024 * 1024, keep: 3 })
    expect(ok(config(), {}, {}, false).log.format).toBe("json")
  })

  it("the configuration's admin-server and logging are honoured; flags win", () => {
    const c = config({
      "dynamic-cluster": { "admin-server": { port: 9001, host: "0.0.0.0", token: "cfg-token-123", token_for_reads: true } },
      logging: { log_level: 3, log_location: "/var/log/dc.log", log_max_size: 2097152 }
    })
    const s = ok(c, {}, {}, true)
    expect(s).toMatchObject({ host: "0.0.0.0", port: 9001, token: "cfg-token-123", tokenSource: "config", tokenForReads: true })
    expect(s.log).toEqual({ level: "debug", format: "json", file: "/var/log/dc.log", maxBytes: 2097152, keep: 3 })
    const f = ok(c, { port: 0, host: "127.0.0.2", logLevel: "error", logFormat: "text" }, {}, false)
    expect(f).toMatchObject({ host: "127.0.0.2", port: 0 })
    expect(f.log).toMatchObject({ level: "error", format: "text" })
  })

  it("DYNCLUSTER_TOKEN wins over admin-server.token; an empty one is ignored", () => {
    const c = config({ "dynamic-cluster": { "admin-server": { token: "cfg-token-123" } } })
    expect(ok(c, {}, { [TOKEN_ENV]: "env-token-456" }, true)).toMatchObject({ token: "env-token-456", tokenSource: "environment" })
    expect(ok(c, {}, { [TOKEN_ENV]: "" }, true)).toMatchObject({ token: "cfg-token-123", tokenSource: "config" })
    expect(ok(config(), {}, { [TOKEN_ENV]: "env-token-456" }, true)).toMatchObject({ token: "env-token-456" })
  })

  it("plugins.graphite gives the reporter, every 30 s unless interval says otherwise", () => {
    const g = ok(config({ plugins: { graphite: { arguments: { hostname: "g.example", port: 2004, prefix: "hn.dc" } } } }), {}, {}, true).graphite
    expect(g).toEqual({ hostname: "g.example", port: 2004, prefix: "hn.dc", interval: 30 })
    expect(ok(config({ plugins: { graphite: { arguments: {}, interval: 5 } } }), {}, {}, true).graphite).toEqual({
      hostname: "localhost",
      port: 2003,
      prefix: "dynamiccluster",
      interval: 5
    })
  })

  it("bad flags are errors naming the flag", () => {
    const bad = (flags: Parameters<typeof resolveSettings>[1], env: Record<string, string> = {}) => {
      const r = resolveSettings(config(), flags, env, true)
      return Either.isLeft(r) ? r.left.message : "accepted"
    }
    expect(bad({ port: 70000 })).toMatch(/^--port: expected a TCP port number/)
    expect(bad({ port: -1 })).toMatch(/^--port/)
    expect(bad({ host: " " })).toMatch(/^--host/)
    expect(bad({ logLevel: "loud" })).toMatch(/^--log-level: expected 0\.\.3 or error, warn, info, debug, got "loud"/)
    expect(bad({ logFormat: "xml" })).toMatch(/^--log-format: expected json or text/)
    expect(bad({}, { [TOKEN_ENV]: "two words" })).toMatch(/DYNCLUSTER_TOKEN: a bearer token cannot contain blanks/)
    expect(bad({ port: 70000, logFormat: "xml" }).split("\n")).toHaveLength(2)
  })
})
