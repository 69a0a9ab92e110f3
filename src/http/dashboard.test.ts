/**
 * The dashboard in a real headless browser (Debian's chromium driven by
 * playwright-core) against the real HTTP server and the in-memory engine.
 * Without chromium the suite is skipped with a visible title, except under
 * CI=true where a missing browser is a failure.
 */
import { existsSync, mkdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Browser, Page } from "playwright-core"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeCloudHealth } from "../daemon/cloud-health.ts"
import { withLiveStatus } from "../daemon/live.ts"
import type { EngineApi } from "../engine/api.ts"
import { CloudError, type CloudService } from "../engine/services.ts"
import { CHROMIUM, chromiumAvailable, chromiumRequired, launchChromium } from "./testing/chromium.ts"
import { countByState, makeNodeHistory } from "./history.ts"
import { FAKE_TIME, makeFakeEngine } from "./testing/fakeEngine.ts"
import { type RunningServer, startServer } from "./testing/serve.ts"

const available = chromiumAvailable
const required = chromiumRequired
const IDLE = "cw-vm-d05e.sa.nectar.org.au"
const HELD = "cw-vm-held.sa.nectar.org.au"
const TOKEN = "dash-token-123"

const docsShot = fileURLToPath(new URL("../../docs/dashboard.png", import.meta.url))

const launch = launchChromium

interface Watched {
  readonly consoleErrors: Array<string>
  readonly external: Array<string>
}

/** Records console errors and page errors, and blocks (and records) any request not to our server. */
const watch = async (page: Page, server: RunningServer): Promise<Watched> => {
  const w: Watched = { consoleErrors: [], external: [] }
  page.on("console", (m) => {
    if (m.type() === "error") w.consoleErrors.push(m.text())
  })
  page.on("pageerror", (e) => w.consoleErrors.push(`page error: ${e.message}`))
  await page.route("**/*", (route) => {
    const url = route.request().url()
    if (url.startsWith(server.url + "/") || url.startsWith("data:")) return route.continue()
    w.external.push(url)
    return route.abort()
  })
  return w
}

/**
 * Three hours of a cluster's counts every two minutes (seconds from the
 * start → counts by state): a busy morning that grows and shrinks.
 */
const pastHours = (): Array<[number, ReturnType<typeof countByState>]> =>
  Array.from({ length: 90 }, (_, i) => {
    const busy = 2 + Math.round(3 * Math.max(0, Math.sin(i / 12)))
    const starting = i % 15 < 2 ? 2 : 0
    const idle = 1 + (i % 7 === 0 ? 1 : 0)
    const held = i % 15 === 10 ? 1 : 0
    // like the fake engine's: one 16-core physical node, cloud nodes of 1 or 2 cores
    const nodes = [
      { state: 3, num_proc: 16 },
      ...Array.from({ length: busy }, () => ({ state: 3, num_proc: 2 })),
      ...Array.from({ length: starting }, () => ({ state: 1, num_proc: 2 })),
      ...Array.from({ length: idle }, () => ({ state: 2, num_proc: 1 })),
      ...Array.from({ length: held }, () => ({ state: 7, num_proc: 1 }))
    ]
    return [i * 120, countByState(nodes)]
  })

const row = (page: Page, table: string, key: string) => page.locator(`#${table} tbody tr[data-key="${key}"]`)

const title = available
  ? "dashboard in headless chromium"
  : `dashboard in headless chromium (SKIPPED: ${CHROMIUM} not found; apt-get install -y chromium)`

describe.skipIf(!available && !required)(title, () => {
  let browser: Browser

  beforeAll(async () => {
    if (!available) throw new Error(`${CHROMIUM} not found (required when CI=true): apt-get install -y chromium`)
    browser = await launch()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
  })

  it("loads without console errors, shows the server's last hours at once, fills its tables, and Hold (confirmed) moves an idle node to Holding", async () => {
    const engine = makeFakeEngine()
    const history = makeNodeHistory()
    const t0 = FAKE_TIME - 3 * 3600
    for (const [t, counts] of pastHours()) history.record(t0 + t, counts)
    const server = await startServer(engine, { token: null, tokenForReads: false, dashboardRefreshSeconds: 1, history })
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    try {
      const w = await watch(page, server)
      const dialogs: Array<string> = []
      page.on("dialog", (d) => {
        dialogs.push(d.message())
        void (dialogs.length === 1 ? d.dismiss() : d.accept())
      })
      await page.goto(server.url + "/dashboard")
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      // Right after the first refresh: the charts show the server's history (three hours, in the daemon's clock).
      const served = history.answer().points.length
      expect(served).toBeGreaterThan(30)
      for (const id of ["chart-nodes", "chart-cores"]) {
        expect(Number(await page.getAttribute(`#${id}`, "data-points"))).toBe(served)
        expect(await page.locator(`#${id} polygon`).count()).toBeGreaterThan(2)
        expect(await page.locator(`#${id} text.axis-title`).allTextContents()).toEqual([id === "chart-nodes" ? "nodes" : "cores", "daemon clock (last 3h 0m)"])
        // whole numbers on the y axis
        const ys = (await page.locator(`#${id} text.axis[text-anchor=end]`).allTextContents()).map(Number)
        for (const v of ys) expect(Number.isInteger(v), `${id}: ${v}`).toBe(true)
      }
      const clockTicks = await page.locator("#chart-nodes text.axis[text-anchor=middle]").allTextContents()
      expect(clockTicks.length).toBeGreaterThan(2)
      for (const t of clockTicks) expect(t).toMatch(/^\d\d:\d\d$/)

      await expect.poll(() => page.locator("#nodes tbody tr[data-key]").count()).toBe(6)
      expect(await page.locator("#resources tbody tr[data-key]").count()).toBe(2)
      expect(await page.locator("#jobs tbody tr[data-key]").allInnerTexts()).toHaveLength(4)
      expect(await row(page, "jobs", "5[1]").locator("td").first().innerText()).toBe("5[1]")
      expect(await row(page, "nodes", IDLE).locator("td.state").innerText()).toBe("Idle")
      expect(await row(page, "nodes", HELD).locator("td.state").innerText()).toBe("Held")
      expect(await row(page, "resources", "os-res").locator("td.flag").innerText()).toBe("Normal")
      expect(await page.locator("#auto-mode").isChecked()).toBe(true)
      expect(await page.locator("#cluster-health").innerText()).toContain("torque")
      expect(await page.locator("#token-form").isHidden()).toBe(true)

      // Hold says what it means in auto mode and asks first: dismissed, nothing happens; accepted, the node is held.
      const hold = row(page, "nodes", IDLE).locator('button[data-action="hold"]')
      expect(await hold.getAttribute("title")).toMatch(/auto mode the scaler then retires it/)
      await hold.click()
      await expect.poll(() => dialogs.length).toBe(1)
      expect(dialogs[0]).toMatch(/Auto mode is on: the scaler then retires it .* unhold is refused/)
      await page.waitForTimeout(300)
      expect(engine.log).toEqual([])
      await hold.click()
      await expect.poll(() => row(page, "nodes", IDLE).locator("td.state").innerText(), { timeout: 10_000 }).toBe("Holding")
      expect(engine.log).toContain(`hold ${IDLE}`)

      // Add two nodes to aws-res (2 of max 4) through the number field.
      const aws = row(page, "resources", "aws-res")
      await aws.locator("input.add-num").fill("2")
      await aws.locator('button[data-action="launch"]').click()
      await expect.poll(() => page.locator("#nodes tbody tr[data-key]").count(), { timeout: 10_000 }).toBe(8)
      expect(engine.log).toContain("launch aws-res 2")

      // Auto mode switch.
      await page.locator("#auto-mode").click()
      await expect.poll(() => engine.log.includes("auto false"), { timeout: 10_000 }).toBe(true)
      await page.locator("#auto-mode").click()
      await expect.poll(() => engine.log.includes("auto true"), { timeout: 10_000 }).toBe(true)

      // Later polls ask only for what is new and keep the rest.
      await page.waitForTimeout(2_500)
      expect(Number(await page.getAttribute("#chart-nodes", "data-points"))).toBe(history.answer().points.length)
      expect(w.consoleErrors).toEqual([])
      expect(w.external).toEqual([])

      const shot = process.env.UPDATE_SCREENSHOTS === "1" || !existsSync(docsShot)
        ? docsShot
        : join(tmpdir(), "dyncluster-dashboard.png")
      mkdirSync(join(shot, ".."), { recursive: true })
      await page.screenshot({ path: shot, fullPage: true })
      console.info(`dashboard screenshot: ${shot}`)

      // An API refusal is shown to the user: os-res is at its maximum.
      await row(page, "resources", "os-res").locator('button[data-action="launch"]').click()
      await expect
        .poll(() => page.locator("#errors .error").first().innerText().catch(() => ""), { timeout: 10_000 })
        .toMatch(/400.*maximum of 3/s)
      // The only console noise allowed after that is the browser's own note about the 400 response.
      expect(w.consoleErrors.filter((e) => !/status of 400/.test(e))).toEqual([])
    } finally {
      await page.close()
      await server.close()
    }
  }, 90_000)

  it("live mode: shows a cloud that refuses the credentials and a resource in boot back-off", async () => {
    const engine = makeFakeEngine()
    // What `dyncluster run --config` serves: the engine's snapshot with cloud health and back-off added.
    const health = makeCloudHealth()
    const refusing: CloudService = {
      list: (resource) => Effect.fail(new CloudError({ resource, op: "authenticate", kind: "auth", message: "Keystone refused the credentials of user dc" })),
      boot: () => Effect.die("unused"),
      refresh: () => Effect.die("unused"),
      destroy: () => Effect.die("unused"),
      coresPerNode: () => Effect.succeed(1)
    }
    Effect.runSync(Effect.either(health.watch("os-res", refusing).list("os-res")))
    health.watch("aws-res", refusing)
    const live: EngineApi = { ...engine, snapshot: Effect.map(engine.snapshot, (s) => withLiveStatus(s, health)) }
    const server = await startServer(live, { token: null, tokenForReads: false, dashboardRefreshSeconds: 1 })
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    try {
      const w = await watch(page, server)
      await page.goto(server.url + "/dashboard")
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      const os = row(page, "resources", "os-res").locator("td.cloud")
      const aws = row(page, "resources", "aws-res").locator("td.cloud")
      expect(await os.locator("[data-health]").evaluateAll((es) => es.map((e) => (e as HTMLElement).dataset.health))).toEqual(["auth"])
      expect(await os.innerText()).toContain("authenticate: Keystone refused the credentials of user dc")
      // aws-res: the fake engine's back-off (until time + 90 s, 3 failures); its cloud accepts the credentials.
      expect(await aws.locator("[data-health]").evaluateAll((es) => es.map((e) => (e as HTMLElement).dataset.health))).toEqual(["backoff"])
      expect(await aws.innerText()).toContain("after 3 failed boot(s) in a row")
      expect(w.consoleErrors).toEqual([])
    } finally {
      await page.close()
      await server.close()
    }
  }, 60_000)

  it("outside live mode the cloud column is empty", async () => {
    const server = await startServer(makeFakeEngine(), { token: null, tokenForReads: false, dashboardRefreshSeconds: 1 })
    const page = await browser.newPage()
    try {
      await watch(page, server)
      await page.goto(server.url + "/dashboard")
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      expect(await row(page, "resources", "aws-res").locator("td.cloud").innerText()).toBe("—")
      expect(await row(page, "resources", "os-res").locator("td.cloud").innerText()).toBe("—")
    } finally {
      await page.close()
      await server.close()
    }
  }, 60_000)

  it("with a token: asks for it, shows the 401, then sends it as a bearer header", async () => {
    const engine = makeFakeEngine()
    const server = await startServer(engine, { token: TOKEN, tokenForReads: false, dashboardRefreshSeconds: 1 })
    const page = await browser.newPage()
    try {
      await watch(page, server)
      await page.goto(server.url + "/dashboard")
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      expect(await page.locator("#token-form").isVisible()).toBe(true)
      page.on("dialog", (d) => void d.accept())

      await row(page, "nodes", IDLE).locator('button[data-action="hold"]').click()
      await expect
        .poll(() => page.locator("#errors .error").first().innerText().catch(() => ""), { timeout: 10_000 })
        .toMatch(/401/)
      expect(engine.log).toEqual([])

      await page.locator("#token-input").fill(TOKEN)
      await page.locator('#token-form button[type="submit"]').click()
      await row(page, "nodes", IDLE).locator('button[data-action="hold"]').click()
      await expect.poll(() => row(page, "nodes", IDLE).locator("td.state").innerText(), { timeout: 10_000 }).toBe("Holding")
      expect(engine.log).toEqual([`hold ${IDLE}`])
    } finally {
      await page.close()
      await server.close()
    }
  }, 60_000)

  it("with tokenForReads: loads nothing until the token is given", async () => {
    const server = await startServer(makeFakeEngine(), { token: TOKEN, tokenForReads: true, dashboardRefreshSeconds: 1 })
    const page = await browser.newPage()
    try {
      await watch(page, server)
      await page.goto(server.url + "/dashboard")
      await expect.poll(() => page.locator("#refresh-error").innerText(), { timeout: 10_000 }).toMatch(/401/)
      expect(await page.locator("#nodes tbody tr[data-key]").count()).toBe(0)
      await page.locator("#token-input").fill(TOKEN)
      await page.locator('#token-form button[type="submit"]').click()
      await page.waitForSelector("body[data-loaded=true]", { timeout: 10_000 })
      await expect.poll(() => page.locator("#nodes tbody tr[data-key]").count()).toBe(6)
      expect(await page.locator("#refresh-error").isHidden()).toBe(true)
    } finally {
      await page.close()
      await server.close()
    }
  }, 60_000)
})
