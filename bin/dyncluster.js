#!/usr/bin/env node
// In a checkout (src/ is there) this runs the TypeScript sources through
// tsx's loader: no build step, an edit takes effect at the next start. An
// installed package has no src/: it runs the JavaScript that `npm pack`
// compiled into dist/ (`npm run build`), which starts faster (docs/install.md).
import { existsSync } from "node:fs"

// The AWS SDK warns on every start under Node < 22 (NodeVersionSupportWarning:
// SDK versions published after January 2027 will need Node 22). The version
// pinned in package-lock.json supports Node 20, which we test (README), so the
// CLI silences exactly that warning with the SDK's own switch; other warnings
// still print. An explicit setting in the environment wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"

const source = new URL("../src/cli/main.ts", import.meta.url)
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api")
  register()
  await import(source.href)
} else {
  await import("../dist/cli/main.js")
}
