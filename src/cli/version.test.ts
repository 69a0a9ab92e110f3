import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { versionInfo, versionText } from "./version.ts"

const REPO = fileURLToPath(new URL("../../", import.meta.url))

describe("dyncluster --version", () => {
  it("in a checkout: the package's version and the commit git names", () => {
    const v = versionInfo(REPO)
    const pkg = JSON.parse(execFileSync("node", ["-p", "JSON.stringify(require('./package.json'))"], { cwd: REPO, encoding: "utf8" }))
    expect(v.version).toBe(pkg.version)
    const head = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: REPO, encoding: "utf8" }).trim()
    expect(v.commit).toMatch(new RegExp(`^${head}(-dirty)?$`))
    expect(versionText(v)).toBe(`${pkg.version} (commit ${v.commit})`)
  })

  it("installed (no .git): the commit baked into dist/build-info.json at pack time; unknown without it", () => {
    const dir = mkdtempSync(join(tmpdir(), "dyncluster-version-"))
    try {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "dyncluster", version: "9.8.7" }))
      expect(versionText(versionInfo(dir))).toBe("9.8.7 (commit unknown)")
      mkdirSync(join(dir, "dist"))
      writeFileSync(join(dir, "dist", "build-info.json"), JSON.stringify({ version: "9.8.7", commit: "0123456789ab" }))
      expect(versionText(versionInfo(dir))).toBe("9.8.7 (commit 0123456789ab)")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
