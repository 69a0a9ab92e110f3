/**
 * The simulation report: its series against figures worked out by hand for a
 * tiny scenario and against the summary's independent tally, downsampling of
 * long logs, escaping, and the page itself in a real headless chromium (from
 * a file:// URL, no network, every plot drawn).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CHROMIUM, chromiumAvailable, chromiumRequired, launchChromium } from "../http/testing/chromium.ts"
import { kitScenario, type KitScenario } from "./kit.ts"
import { buildReport, DEFAULT_CURRENCY, EventLogError, escapeHtml, fmtDelta, jsonForScript, RUN_COLORS, seriesFromEvents, waitCdf, type RunSeries } from "./report.ts"
import { runScenario } from "./run.ts"

// One physical node of 2 cores; one cloud resource of 4-core nodes. j2 fits the
// physical node, j1 needs a cloud node; classic starts one new node per job.
const tiny: KitScenario = {
  name: "tiny",
  physical: [{ hostname: "p1", cores: 2 }],
  resources: [{ name: "os", max: 2, cores: 4 }],
  jobs: [
    { id: "j1", submit: 0, runtime: 600, cores: 4, cpn: 4 },
    { id: "j2", submit: 0, runtime: 300, cores: 2, cpn: 2 }
  ],
  // classic: the idle node goes after max_idle_time, which the series test times
  settings: { max_idle_time: 300, policy: "classic" },
  drain: 600,
  // a job that can never run would keep a run going forever
  maxTime: 20_000
}

type Ev = { t: number; ev: string; [k: string]: any }
const parsed = (events: ReadonlyArray<string>): Array<Ev> => events.map((l) => JSON.parse(l))
const find = (ev: ReadonlyArray<Ev>, name: string, pred: (e: Ev) => boolean = () => true): Ev => {
  const e = ev.find((x) => x.ev === name && pred(x))
  if (e === undefined) throw new Error(`no ${name} event`)
  return e
}

/** The value a step series holds at time t (points are left edges). */
const at = (s: RunSeries, values: ReadonlyArray<number>, t: number): number => {
  let k = -1
  for (let i = 0; i < s.t.length && s.t[i] <= t; i++) k = i
  if (k < 0) throw new Error(`no point at or before ${t}`)
  return values[k]
}

/** ∫ values dt over the run (step function, last point holds until the end). */
const integral = (s: RunSeries, values: ReadonlyArray<number>): number => {
  let a = 0
  for (let i = 0; i < s.t.length; i++) a += values[i] * ((i + 1 < s.t.length ? s.t[i + 1] : s.end) - s.t[i])
  return a
}

describe("series from the event log", () => {
  const run = runScenario(kitScenario(tiny))
  const ev = parsed(run.events)
  const s = seriesFromEvents(run.events)
  const os = s.nodes.os

  it("queued and running jobs", () => {
    // t=0: both queued. The scheduler's first cycle (10 s) starts j2 on p1.
    expect(find(ev, "start", (e) => e.job === "j2").t).toBe(10)
    expect(at(s, s.queued, 0)).toBe(2)
    expect(at(s, s.running, 0)).toBe(0)
    expect(at(s, s.queued, 10)).toBe(1)
    expect(at(s, s.running, 10)).toBe(1)
    expect(at(s, s.physicalUsedCores, 10)).toBe(2)
    // j1 starts on the first cloud node once it has joined.
    const j1 = find(ev, "start", (e) => e.job === "j1")
    expect(j1.hosts).toHaveLength(1)
    expect(at(s, s.queued, j1.t)).toBe(0)
    expect(at(s, s.running, j1.t)).toBe(2)
    expect(at(s, s.usedCores, j1.t)).toBe(4)
    // j2 ends at 10 + 300, j1 600 s after its start.
    expect(at(s, s.running, 310)).toBe(1)
    expect(at(s, s.physicalUsedCores, 310)).toBe(0)
    expect(at(s, s.running, j1.t + 600)).toBe(0)
    expect(at(s, s.usedCores, j1.t + 600)).toBe(0)
    expect(s.physicalCores).toBe(2)
    expect(s.waits).toEqual([10, j1.t])
    expect(s.bucket).toBeNull()
  })

  it("nodes per state: starting → up → held → terminating → gone", () => {
    // Both boots at the engine's first step (t=0), 4 cores each.
    const boots = ev.filter((e) => e.ev === "boot")
    expect(boots.map((b) => [b.t, b.cores])).toEqual([
      [0, 4],
      [0, 4]
    ])
    expect(at(s, os.starting, 0)).toBe(2)
    expect(at(s, s.paidCores, 0)).toBe(8)
    const joins = ev.filter((e) => e.ev === "join")
    expect(joins).toHaveLength(2)
    const lastJoin = Math.max(...joins.map((j) => j.t))
    expect(at(s, os.starting, lastJoin)).toBe(0)
    expect(at(s, os.up, lastJoin)).toBe(2)
    // The idle node (os-00002 carries no job) is held after max_idle_time 300 s.
    const idleHost = joins.map((j) => j.host).find((h) => h !== find(ev, "start", (e) => e.job === "j1").hosts[0])!
    const hold = find(ev, "hold", (e) => e.host === idleHost)
    expect(hold.t - lastJoin).toBeGreaterThanOrEqual(300)
    expect(at(s, os.held, hold.t)).toBe(1)
    expect(at(s, os.up, hold.t)).toBe(1)
    const leave = find(ev, "leave", (e) => e.host === idleHost)
    expect(at(s, os.held, leave.t)).toBe(0)
    expect(at(s, os.terminating, leave.t)).toBe(1)
    const inst = find(ev, "join", (e) => e.host === idleHost).instance
    const gone = find(ev, "gone", (e) => e.instance === inst)
    expect(at(s, os.terminating, gone.t)).toBe(0)
    expect(at(s, s.paidCores, gone.t)).toBe(4)
    // At the end every instance is gone.
    expect(at(s, s.paidCores, s.end)).toBe(0)
    for (const st of ["starting", "up", "held", "terminating"] as const) expect(at(s, os[st], s.end)).toBe(0)
  })

  it("areas under the cores curves equal the summary's paid and useful core-hours (tallied by the world, not from the log)", () => {
    expect(integral(s, s.paidCores) / 3600).toBeCloseTo(run.summary.total.core_hours, 2)
    expect(integral(s, s.usedCores) / 3600).toBeCloseTo(run.summary.total.useful_core_hours, 2)
    // by hand: two 4-core instances, each paid from boot (0) to gone
    const gones = ev.filter((e) => e.ev === "gone").map((e) => e.t)
    expect(integral(s, s.paidCores)).toBeCloseTo(4 * gones[0] + 4 * gones[1], 6)
    // j1: 4 cores × 600 s on a cloud node
    expect(integral(s, s.usedCores)).toBeCloseTo(2400, 6)
  })

  it("injected faults and scaler restarts become markers for the plots", () => {
    const faulty = runScenario(
      kitScenario({ ...tiny, faults: [{ kind: "outage", resource: "os", at: 100, duration: 300 }, { kind: "restart", at: 500 }] })
    )
    const f = seriesFromEvents(faulty.events)
    expect(f.markers).toEqual([
      { t: 100, end: 400, kind: "outage", label: "outage os" },
      { t: 500, kind: "restart", label: "scaler restart" }
    ])
    expect(f.markersDropped).toBe(0)
    expect(s.markers).toEqual([])
  })

  it("wait CDF: fraction of jobs that waited at most x, on one grid for several runs", () => {
    const c = waitCdf([
      [10, 170],
      [0, 5, 5, 100]
    ])
    expect(c.x).toEqual([0, 5, 10, 100, 170])
    expect(c.y[0]).toEqual([0, 0, 0.5, 0.5, 1])
    expect(c.y[1]).toEqual([0.25, 0.75, 0.75, 1, 1])
    const big = Array.from({ length: 100_000 }, (_, i) => i)
    const d = waitCdf([big], 500)
    expect(d.x.length).toBeLessThanOrEqual(501)
    expect(d.x[d.x.length - 1]).toBe(99_999)
    expect(d.y[0][d.y[0].length - 1]).toBe(1)
  })

  it("a bad line is reported with its line number", () => {
    expect(() => seriesFromEvents(['{"t":0,"ev":"physical","host":"p","cores":1}', "garbage"])).toThrow(/event log line 2: not JSON/)
    expect(() => seriesFromEvents(['{"t":0,"ev":"start","job":"x","hosts":"p","per_host":[1]}'])).toThrow(EventLogError)
    expect(() => seriesFromEvents(['{"t":5,"ev":"restart"}', '{"t":4,"ev":"restart"}'])).toThrow(/line 2: time goes backwards/)
  })
})

describe("downsampling", () => {
  it("a run with more event times than maxPoints keeps peaks and core-hours", () => {
    const jobs = Array.from({ length: 400 }, (_, i) => ({ submit: i * 37, runtime: 200 + (i % 7) * 50, cores: 1 + (i % 4), cpn: 1 + (i % 4) }))
    const run = runScenario(kitScenario({ resources: [{ name: "os", max: 6, cores: 4 }], jobs, settings: { max_idle_time: 120 }, drain: 300, maxTime: 100_000 }))
    const exact = seriesFromEvents(run.events, { maxPoints: Infinity })
    const small = seriesFromEvents(run.events, { maxPoints: 100 })
    expect(exact.bucket).toBeNull()
    expect(exact.t.length).toBeGreaterThan(100)
    expect(small.bucket).toBeCloseTo(exact.end / 99, 6)
    expect(small.t.length).toBe(100)
    for (const k of ["queued", "running"] as const) expect(Math.max(...small[k])).toBe(Math.max(...exact[k]))
    expect(Math.max(...small.nodes.os.up)).toBe(Math.max(...exact.nodes.os.up))
    // cores are time averages per bucket: the areas stay (up to rounding of the points)
    expect(integral(small, small.paidCores)).toBeCloseTo(integral(exact, exact.paidCores), -1)
    expect(integral(exact, exact.paidCores) / 3600).toBeCloseTo(run.summary.total.core_hours, 2)
    expect(integral(small, small.usedCores) / 3600).toBeCloseTo(run.summary.total.useful_core_hours, 1)
  })

  it("a year-long log gives a report under 3 MB with ≤ 2000 points per series", () => {
    // A synthetic log in the world's format: a job every half hour on a
    // 64-core physical node, plus a cloud node paid for half of every day.
    const lines: Array<string> = ['{"t":0,"ev":"physical","host":"p","cores":64}']
    const year = 365 * 86400
    let n = 0
    const ends: Array<[number, string]> = []
    for (let t = 0; t < year; t += 1800) {
      const id = `j${n++}`
      while (ends.length > 0 && ends[0][0] <= t) lines.push(`{"t":${ends[0][0]},"ev":"finish","job":"${ends.shift()![1]}"}`)
      lines.push(`{"t":${t},"ev":"submit","job":"${id}","cores":1,"cpn":1,"queue":"q","account":null,"property":null,"runtime":120}`)
      if (t % 86400 === 0) lines.push(`{"t":${t},"ev":"boot","resource":"os","instance":"i-${t}","name":"os-${t}","cores":8}`)
      lines.push(`{"t":${t + 30},"ev":"start","job":"${id}","hosts":["p"],"per_host":[1]}`)
      if (t % 86400 === 43200) lines.push(`{"t":${t + 30},"ev":"gone","instance":"i-${t - 43200}"}`)
      ends.push([t + 2400, id])
    }
    for (const [t, id] of ends) lines.push(`{"t":${t},"ev":"finish","job":"${id}"}`)
    expect(lines.length).toBeGreaterThan(50_000)
    const summary = runScenario(kitScenario({ resources: [{ name: "os", max: 1 }], maxTime: 1 })).summary
    const t0 = performance.now()
    const html = buildReport([{ label: "year", events: lines, summary }])
    const ms = performance.now() - t0
    const s = seriesFromEvents(lines)
    expect(s.t.length).toBeLessThanOrEqual(2000)
    expect(s.queued.length).toBe(s.t.length)
    expect(Math.max(...s.running)).toBe(2)
    expect(Math.max(...s.queued)).toBe(1)
    expect(Math.max(...s.nodes.os.starting)).toBe(1)
    // paid: one 8-core node from each midnight to 12:00:30
    expect(integral(s, s.paidCores) / 3600).toBeCloseTo((365 * 43230 * 8) / 3600, 0)
    expect(html.length).toBeLessThan(3 * 1024 * 1024)
    console.info(`report of ${lines.length} event lines: ${(html.length / 1024).toFixed(0)} KiB in ${ms.toFixed(0)} ms`)
  }, 60_000)
})

describe("HTML", () => {
  it("escapes text and keeps embedded JSON from closing its script element", () => {
    expect(escapeHtml(`<a href="x">&'`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
    const j = jsonForScript({ s: "</script><script>alert(1)</script>\u2028&" })
    expect(j).not.toMatch(/<|>|&/)
    expect(JSON.parse(j)).toEqual({ s: "</script><script>alert(1)</script>\u2028&" })
  })

  it("is one file: the chart library is inlined, nothing is loaded from elsewhere", () => {
    const run = runScenario(kitScenario(tiny))
    const html = buildReport([{ label: "a", events: run.events, summary: run.summary }])
    expect(html).toMatch(/uPlot/)
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import|url\(http/i)
    expect(html).toContain("default-src 'none'")
  })
})

// ---------------------------------------------------------------- in a browser

const NASTY = `</script><script>window.__pwned=1</script> & "quotes" <b>`
const docsShot = fileURLToPath(new URL("../../docs/report.png", import.meta.url))
const title = chromiumAvailable
  ? "report in headless chromium"
  : `report in headless chromium (SKIPPED: ${CHROMIUM} not found; apt-get install -y chromium)`
if (!chromiumAvailable && !chromiumRequired) console.warn(title)

describe.skipIf(!chromiumAvailable && !chromiumRequired)(title, () => {
  let browser: Browser
  let dir: string

  beforeAll(async () => {
    if (!chromiumAvailable) throw new Error(`${CHROMIUM} not found (required when CI=true): apt-get install -y chromium`)
    browser = await launchChromium()
    dir = mkdtempSync(join(tmpdir(), "dyncluster-report-"))
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("loads from a file:// URL without console errors or requests, draws every plot, escapes names", async () => {
    const two: KitScenario = {
      ...tiny,
      resources: [
        { name: "os", max: 2, cores: 4, price: 0.1 },
        { name: "aws", max: 2, cores: 8, priority: 2, price: 0.4 }
      ],
      jobs: [...tiny.jobs!, { id: "j3", submit: 400, runtime: 900, cores: 16, cpn: 8 }]
    }
    const a = runScenario(kitScenario({ ...two, name: NASTY }))
    const b = runScenario(
      kitScenario({
        ...two,
        name: NASTY,
        settings: { max_idle_time: 60 },
        faults: [
          { kind: "outage", resource: "aws", at: 380, duration: 240 },
          { kind: "restart", at: 1200 }
        ]
      })
    )
    const html = buildReport(
      [
        { label: "max_idle_time 300", events: a.events, summary: a.summary },
        { label: NASTY, events: b.events, summary: b.summary }
      ],
      { title: `Report ${NASTY}`, currency: "EUR" }
    )
    const file = join(dir, "report.html")
    writeFileSync(file, html)
    const url = pathToFileURL(file).href

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors: Array<string> = []
    const requests: Array<string> = []
    const dialogs: Array<string> = []
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text())
    })
    page.on("pageerror", (e) => errors.push(`page error: ${e.message}`))
    page.on("request", (r) => requests.push(r.url()))
    page.on("dialog", (d) => {
      dialogs.push(d.message())
      void d.dismiss()
    })
    try {
      await page.goto(url)
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      const resources = Object.keys(seriesFromEvents(a.events).nodes).length
      expect(resources).toBe(2)
      // The wait CDF, then the runs overlaid: queued, running, nodes per resource, cores.
      const compared = 1 + 2 + resources + 1
      expect(await page.getAttribute("body", "data-charts")).toBe(String(compared))
      // Each run's own charts (jobs, nodes by state per resource, cores) are drawn when unfolded.
      for (const d of await page.locator("details.run > summary").all()) await d.click()
      const expected = compared + 2 * (1 + resources + 1)
      await expect.poll(() => page.getAttribute("body", "data-charts")).toBe(String(expected))
      await checkCharts(page, 2)
      const sizes = await page.$$eval(".uplot canvas", (cs) => cs.map((c) => ({ w: c.getBoundingClientRect().width, h: c.getBoundingClientRect().height })))
      expect(sizes).toHaveLength(expected)
      for (const s of sizes) {
        expect(s.w).toBeGreaterThan(100)
        expect(s.h).toBeGreaterThan(50)
      }
      // Canvases really hold a drawing (not blank): some pixels are not transparent.
      const inked = await page.$$eval(".uplot canvas", (cs) =>
        cs.map((c) => {
          const ctx = (c as HTMLCanvasElement).getContext("2d")!
          const d = ctx.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data
          let n = 0
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++
          return n
        })
      )
      for (const n of inked) expect(n).toBeGreaterThan(100)
      // Summary side by side: one column per run, and the second run's Δ against the first.
      expect(await page.locator("#summary thead th").allInnerTexts()).toEqual(["", "max_idle_time 300", NASTY, "Δ vs max_idle_time 300"])
      const cost = await page.locator("#summary tbody tr", { hasText: "cost (EUR)" }).last().locator("td").allInnerTexts()
      expect(cost).toEqual([String(a.summary.total.cost), String(b.summary.total.cost), fmtDelta(a.summary.total.cost, b.summary.total.cost)])
      const finished = await page.locator("#summary tbody tr", { hasText: "jobs finished" }).locator("td").allInnerTexts()
      expect(finished).toEqual([String(a.summary.jobs.finished), String(b.summary.jobs.finished), fmtDelta(a.summary.jobs.finished, b.summary.jobs.finished)])
      expect(await page.title()).toBe(`Report ${NASTY}`)
      expect(await page.locator("h1").innerText()).toBe(`Report ${NASTY}`)
      expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined()
      expect(await page.locator("#runs details.run > summary").allInnerTexts()).toEqual(["Run in detail: max_idle_time 300", `Run in detail: ${NASTY}`])
      expect(await page.locator(".markers").allInnerTexts()).toEqual([
        expect.stringMatching(/outage aws 6m 20s–10m 20s; scaler restart at 20m\.$/)
      ])
      expect(dialogs).toEqual([])
      expect(errors).toEqual([])
      expect(requests).toEqual([url])

      // The picture for the docs: the same two runs under plain names.
      const clean = join(dir, "clean.html")
      writeFileSync(
        clean,
        buildReport(
          [
            { label: "max_idle_time 300", events: a.events, summary: { ...a.summary, scenario: "two-resources" } },
            { label: "max_idle_time 60, faults", events: b.events, summary: { ...b.summary, scenario: "two-resources" } }
          ],
          { title: "Simulation report: max_idle_time 300 vs 60 with an outage and a restart", currency: "EUR" }
        )
      )
      await page.goto(pathToFileURL(clean).href)
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      expect(errors).toEqual([])
      const shot = process.env.UPDATE_SCREENSHOTS === "1" || !existsSync(docsShot) ? docsShot : join(dir, "report.png")
      mkdirSync(join(shot, ".."), { recursive: true })
      await page.screenshot({ path: shot, fullPage: true })
      console.info(`report screenshot: ${shot}`)
      await page.locator("details.run > summary").first().click()
      await expect.poll(() => page.getAttribute("body", "data-charts")).toBe(String(compared + 1 + resources + 1))
      expect(errors).toEqual([])
    } finally {
      await page.close()
    }
  }, 60_000)

  it("one run: each kind of series has its own colour, axes titled, integer ticks on counts", async () => {
    const a = runScenario(kitScenario(tiny))
    const file = join(dir, "one.html")
    writeFileSync(file, buildReport([{ label: "classic", events: a.events, summary: a.summary }]))
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors: Array<string> = []
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text())
    })
    page.on("pageerror", (e) => errors.push(`page error: ${e.message}`))
    try {
      await page.goto(pathToFileURL(file).href)
      await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 })
      // wait CDF, jobs, nodes of os, cores
      expect(await page.getAttribute("body", "data-charts")).toBe("4")
      await checkCharts(page, 1)
      expect(await page.locator("#summary thead th").allInnerTexts()).toEqual(["", "classic"])
      expect(await page.locator("#summary tbody th[scope=row]").allInnerTexts()).toContain(`cost (${DEFAULT_CURRENCY})`)
      expect(await page.locator("#runs h2").allInnerTexts()).toEqual(["Run: classic"])
      expect(errors).toEqual([])
    } finally {
      await page.close()
    }
  }, 60_000)
})

/**
 * Every chart: drawn, full width, both axes titled, integer y ticks unless
 * it shows a fraction; with several runs each series is in its run's colour,
 * with one run each series label keeps one colour in every chart.
 */
const checkCharts = async (page: Page, runs: number) => {
  const body = await page.evaluate(() => document.body.clientWidth)
  const charts = await page.$$eval(".chart", (ds) =>
    ds.map((d) => ({
      id: d.id,
      x: d.getAttribute("data-x-title"),
      y: d.getAttribute("data-y-title"),
      series: JSON.parse(d.getAttribute("data-series") ?? "[]") as Array<{ label: string; run: number; color: string }>,
      ticks: JSON.parse(d.getAttribute("data-y-ticks") ?? "[]") as Array<number>,
      width: d.querySelector("canvas")!.getBoundingClientRect().width
    }))
  )
  expect(charts.length).toBeGreaterThan(0)
  const colourOf = new Map<string, string>()
  for (const c of charts) {
    expect(c.x, c.id).toMatch(/\w/)
    expect(c.y, c.id).toMatch(/\w/)
    expect(c.width, c.id).toBeGreaterThan(body * 0.9)
    expect(c.ticks.length, c.id).toBeGreaterThan(1)
    if (c.id !== "wait-cdf") for (const t of c.ticks) expect(Number.isInteger(t), `${c.id}: tick ${t}`).toBe(true)
    for (const s of c.series) {
      if (runs > 1) expect(s.color, `${c.id} ${s.label}`).toBe(RUN_COLORS[s.run])
      else if (c.id !== "wait-cdf") {
        expect(colourOf.get(s.label) ?? s.color, `${c.id} ${s.label}`).toBe(s.color)
        colourOf.set(s.label, s.color)
      }
    }
  }
  if (runs === 1) expect(new Set(colourOf.values()).size, "one colour per kind of series").toBe(colourOf.size)
}
