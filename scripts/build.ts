/**
 * `npm run build` (run by `npm pack` through prepack): compiles src/ to dist/
 * with tsc (tsconfig.build.json), copies the dashboard's assets and writes
 * dist/build-info.json with the commit, so an installed `dyncluster --version`
 * names it and a start does not compile TypeScript. A checkout never needs
 * it: bin/dyncluster.js runs src/ through tsx when src/ is there.
 */
import { execFileSync } from "node:child_process"
import { cpSync, rmSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { versionInfo } from "../src/cli/version.ts"

const root = fileURLToPath(new URL("../", import.meta.url))
const dist = `${root}dist`
rmSync(dist, { recursive: true, force: true })
execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}tsconfig.build.json`], { stdio: "inherit" })
cpSync(`${root}src/http/assets`, `${dist}/http/assets`, { recursive: true })
const { version, commit } = versionInfo(root)
writeFileSync(`${dist}/build-info.json`, JSON.stringify({ version, commit, built: new Date().toISOString() }) + "\n")
process.stdout.write(`build: dist/ for dyncluster ${version} (commit ${commit ?? "unknown"})\n`)
