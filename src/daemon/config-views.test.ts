/**
 * GET /server/config as the first version answered it (the configuration as
 * written in the file, secrets redacted) and GET /server/config/effective
 * (defaults filled in), on a running `dyncluster run --sim`; after a reload
 * (SIGHUP) the as-written view follows the new file.
 */
import { readFileSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parse } from "yaml"
import { afterEach, describe, expect, it } from "vitest"
import { redactSecrets } from "../model/config.ts"
import { startDyncluster, type Daemon } from "./testing/process.ts"

const FIXTURE = fileURLToPath(new URL("./fixtures/api.yaml", import.meta.url))
const SECRETS = ["os-pass-SECRET-1", "app-cred-SECRET-2", "aws-key-SECRET-3", "plugin-token-SECRET-4"]
const json = (line: string): Record<string, unknown> => {
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return {}
  }
}
/** Every key path whose value is null. */
const nullPaths = (v: unknown, path = ""): Array<string> =>
  v === null
    ? [path]
    : typeof v === "object"
      ? Object.entries(v as object).flatMap(([k, x]) => nullPaths(x, path === "" ? k : `${path}.${k}`))
      : []

let daemon: Daemon | null = null
afterEach(() => {
  daemon?.kill("SIGKILL")
  daemon = null
})

describe("GET /server/config (as written) and /server/config/effective", () => {
  it("shows the file as written without secrets, the defaults under /effective, and follows a reload", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-config-views-"))
    const file = join(dir, "scenario.yaml")
    const text = readFileSync(FIXTURE, "utf8")
    writeFileSync(file, text)
    const d = (daemon = startDyncluster(["run", "--sim", file, "--speed", "20", "--port", "0", "--log-format", "json"]))
    const url = json(await d.waitForLine((l) => json(l).url !== undefined, 120_000)).url as string
    const get = async (path: string) => {
      const res = await fetch(url + path)
      expect(res.status, path).toBe(200)
      expect(res.headers.get("content-type"), path).toMatch(/^application\/json\b/)
      const body = await res.text()
      for (const s of SECRETS) expect(body, `${path} shows a secret`).not.toContain(s)
      return JSON.parse(body) as any
    }

    const written = await get("/server/config")
    // exactly the file's config section, secrets redacted: no key the file does not have
    expect(written).toEqual(redactSecrets(parse(text).config))
    expect(nullPaths(written)).toEqual([])
    expect(written["dynamic-cluster"]).not.toHaveProperty("post_vm_provision_command")
    expect(written.cloud.os.config.password).not.toBe("os-pass-SECRET-1")
    expect(written.cloud.os.config.username).toBe("demo")

    const effective = await get("/server/config/effective")
    // the defaults are filled in, null-valued ones too
    expect(effective["dynamic-cluster"]).toHaveProperty("post_vm_provision_command", null)
    expect(nullPaths(effective).length).toBeGreaterThan(0)
    expect(effective["dynamic-cluster"].max_idle_time).toBe(600)
    expect(effective.cloud.os.config.username).toBe("demo")

    // a reload: the as-written view follows the new file
    writeFileSync(file, text.replace("max_idle_time: 600", "max_idle_time: 45\n    post_vm_provision_command: /bin/true"))
    d.kill("SIGHUP")
    await d.waitForLine((l) => String(json(l).msg ?? "").startsWith("reloaded "), 60_000)
    const after = await get("/server/config")
    expect(after["dynamic-cluster"].max_idle_time).toBe(45)
    expect(after["dynamic-cluster"].post_vm_provision_command).toBe("/bin/true")
    expect(nullPaths(after)).toEqual([])
    expect((await get("/server/config/effective"))["dynamic-cluster"].max_idle_time).toBe(45)
  }, 240_000)
})
