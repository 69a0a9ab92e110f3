/**
 * Test helper: Debian's chromium driven by playwright-core, launched the same
 * way by every browser test (headless, no sandbox, nothing that phones home).
 * Without chromium a suite skips with a visible title, except under CI=true
 * where a missing browser is a failure.
 */
import { existsSync } from "node:fs"
import { type Browser, chromium } from "playwright-core"

export const CHROMIUM = "/usr/bin/chromium"
export const chromiumAvailable = existsSync(CHROMIUM)
export const chromiumRequired = process.env.CI === "true"

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
