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
import { makeDecisionLog } from "./decisions.ts"
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

/**
 * A few minutes of decisions about the fake engine's jobs and resources:
 * a provision for 13, os-res at its max for 15.headnode.example.org, 5[1]
 * fitting no resource (queue gpu), then a hold.
 */
const someDecisions = () => {
  const log = makeDecisionLog()
  const t = FAKE_TIME - 300
  log.record({ t, decisions: [{ kind: "provision", resource: "os-res", count: 1, reason: "queued_jobs", jobs: ["13"], jobsTotal: 1 }] })
  for (const dt of [10, 20, 30])
    log.record({
      t: t + dt,
      decisions: [
        { kind: "refuse", resource: "os-res", count: 2, by: "policy", reason: "at_max", max: 3, until: 0, failures: 0, jobs: ["15.headnode.example.org"], jobsTotal: 1 },
        { kind: "refuse", resource: null, reason: "no_matching_resource", match: { why: "reservation", queue: "gpu", account: null, property: null }, jobs: ["5[1]"], jobsTotal: 1 }
      ]
    })
  log.record({ t: t + 60, decisions: [{ kind: "hold", host: IDLE, resource: "aws-res", reason: "idle", idleFor: 700, limit: 600, limitBy: "max_idle_time" }] })
  return log
}

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
    const server = await startServer(engine, { token: null, tokenForReads: false, dashboardRefreshSeconds: 1, history, decisions: someDecisions() })
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

  it("Decisions panel: newest first, filters by resource and kind, the reason in words; each queued job says why it waits; the shadow-mode banner", async () => {
    const engine = makeFakeEngine()
    // a daemon in shadow mode says "dry_run": true in /server/status
    const shadow: EngineApi = { ...engine, snapshot: Effect.map(engine.snapshot, (s) => ({ ...s, status: { ...s.status, dry_run: true } })) }
    const server = await startServer(shadow, { token: null, tokenForReads: false, dashboardRefreshSeconds: 1, decisions: someDecisions() })
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    try {
      const w = await watch(page, server)
      await page.goto(server.url + "/dashboard")
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      expect(await page.locator("#shadow-banner").isVisible()).toBe(true)
      expect(await page.locator("#shadow-banner").innerText()).toBe("Shadow mode: decisions are not carried out")

      const rows = page.locator("#decisions tbody tr[data-key]")
      const cells = async (i: number) => (await rows.nth(i).locator("td").allInnerTexts()).map((t) => t.trim())
      expect(await rows.count()).toBe(4)
      // newest first: the hold, then the two refusals (last taken at +30), then the provision
      expect((await cells(0)).slice(1, 5)).toEqual(["hold", "aws-res", "idle", `holding ${IDLE}: idle for 700s (max_idle_time 600s)`])
      expect(await rows.evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset.kind))).toEqual(["hold", "refuse", "refuse", "provision"])
      const refusals = (await Promise.all([1, 2].map(cells))).map((c) => c.slice(2, 7))
      expect(refusals).toContainEqual(["os-res", "at_max", "not starting 2 node(s) in os-res for queued job 15.headnode.example.org: os-res is at its max 3", "15.headnode.example.org", "3× since " + (await page.evaluate((t) => new Date(t * 1000).toLocaleString(), FAKE_TIME - 290))])
      expect(refusals.map((c) => c[2])).toContain("job 5[1] is admitted by no resource's reservation (queue gpu)")

      // filters
      await page.selectOption("#decisions-kind", "refuse")
      await expect.poll(() => rows.count()).toBe(2)
      await page.selectOption("#decisions-resource", "(none)")
      await expect.poll(() => rows.count()).toBe(1)
      expect((await cells(0))[3]).toBe("no_matching_resource")
      await page.selectOption("#decisions-kind", "hold")
      await expect.poll(() => page.locator("#decisions tbody td.empty").innerText()).toBe("No decisions match the filters")
      await page.selectOption("#decisions-resource", "")
      await expect.poll(() => rows.count()).toBe(1)
      // a refresh keeps the filters
      await page.waitForTimeout(1_500)
      expect(await page.locator("#decisions-kind").inputValue()).toBe("hold")
      expect(await rows.count()).toBe(1)

      // why each queued job waits
      const waiting = async (job: string) => (await row(page, "jobs", job).locator("td.waiting").innerText()).trim()
      expect(await waiting("13")).toMatch(/^waiting for a node that is booting in os-res \(/)
      expect(await waiting("15.headnode.example.org")).toBe("not starting 2 node(s) in os-res for queued job 15.headnode.example.org: os-res is at its max 3")
      expect(await waiting("5[1]")).toBe("job 5[1] is admitted by no resource's reservation (queue gpu)")
      expect(await waiting("5[2].headnode")).toBe("not eligible yet: the scheduler has given it no priority")
      expect(w.consoleErrors).toEqual([])
      expect(w.external).toEqual([])
    } finally {
      await page.close()
      await server.close()
    }
  }, 60_000)

  it("outside live mode the cloud column is empty; without a decision log the panel says so; no shadow banner without dry_run", async () => {
    const server = await startServer(makeFakeEngine(), { token: null, tokenForReads: false, dashboardRefreshSeconds: 1 })
    const page = await browser.newPage()
    try {
      await watch(page, server)
      await page.goto(server.url + "/dashboard")
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      expect(await row(page, "resources", "aws-res").locator("td.cloud").innerText()).toBe("—")
      expect(await row(page, "resources", "os-res").locator("td.cloud").innerText()).toBe("—")
      expect(await page.locator("#decisions-count").innerText()).toBe("(this server keeps no log of decisions)")
      expect((await row(page, "jobs", "13").locator("td.waiting").innerText()).trim()).toBe("—")
      expect(await page.locator("#shadow-banner").isHidden()).toBe(true)
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
