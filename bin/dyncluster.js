#!/usr/bin/env node
// In a checkout (src/ is there) this runs the TypeScript sources through
// tsx's loader: no build step, an edit takes effect at the next start. An
// installed package has no src/: it runs the JavaScript that `npm pack`
// compiled into dist/ (`npm run build`), which starts faster (docs/install.md).
import { existsSync } from "node:fs"

const source = new URL("../src/cli/main.ts", import.meta.url)
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api")
  register()
  await import(source.href)
} else {
  await import("../dist/cli/main.js")
}
