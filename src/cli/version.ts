/**
 * `dyncluster --version`: the package's version and the commit it was built
 * from. An installed package carries the commit in dist/build-info.json
 * (written by `npm run build`, which `npm pack` runs); a checkout asks git.
 * The same text starts the daemon's log, so a log says what ran.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** The package's root: this file is src/cli/version.ts in a checkout, dist/cli/version.js when installed. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url))

const readJson = (path: string): Record<string, unknown> | null => {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>
  } catch {
    return null
  }
}

/** The commit of a git checkout at `dir` ("abc1234", "abc1234-dirty" with uncommitted changes), or null. */
export const gitCommit = (dir: string): string | null => {
  if (!existsSync(`${dir}/.git`)) return null
  try {
    const git = (...args: Array<string>) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 }).trim()
    const hash = git("rev-parse", "--short=12", "HEAD")
    return git("status", "--porcelain", "--untracked-files=no") === "" ? hash : `${hash}-dirty`
  } catch {
    return null
  }
}

export interface VersionInfo {
  readonly version: string
  /** null when neither build-info.json nor git knows it. */
  readonly commit: string | null
}

export const versionInfo = (root: string = ROOT): VersionInfo => {
  const pkg = readJson(`${root}/package.json`)
  const built = readJson(`${root}/dist/build-info.json`)
  const version = typeof pkg?.version === "string" ? pkg.version : "unknown"
  // A checkout's own git wins over a dist/ left from an earlier build.
  const commit = gitCommit(root) ?? (typeof built?.commit === "string" ? built.commit : null)
  return { version, commit }
}

/** "0.1.0 (commit abc1234)" or "0.1.0 (commit unknown)". */
export const versionText = (v: VersionInfo = versionInfo()): string => `${v.version} (commit ${v.commit ?? "unknown"})`
