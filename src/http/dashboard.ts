/**
 * GET /dashboard: one self-contained page (inline CSS and JS, no external
 * requests) that uses only the REST API. The assets are read once from
 * ./assets; the Content-Security-Policy allows exactly those inline blocks
 * (by hash) and fetches to the same origin.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"

export interface DashboardOptions {
  /** A token is configured: the page shows a token field and sends it as a bearer header. */
  readonly tokenRequired: boolean
  /** Reads need the token too: the page asks for it before loading data. */
  readonly tokenForReads: boolean
  readonly refreshSeconds: number
  /** The server keeps a log of decisions (GET /server/decisions): the page shows its panel's rows. Absent: false. */
  readonly decisions?: boolean
}

export interface DashboardPage {
  readonly html: string
  readonly contentSecurityPolicy: string
}

let assets: { readonly css: string; readonly js: string } | undefined

const loadAssets = () => {
  if (assets === undefined) {
    const read = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url), "utf8")
    assets = { css: read("dashboard.css"), js: read("dashboard.js") }
  }
  return assets
}

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`

/** Inline text must not close its own element early. */
const safeInline = (text: string, tag: "script" | "style"): string => {
  if (new RegExp(`</${tag}`, "i").test(text)) throw new Error(`dashboard asset contains </${tag}>`)
  return text
}

export const renderDashboard = (options: DashboardOptions): DashboardPage => {
  const { css, js } = loadAssets()
  const style = safeInline(css, "style")
  const script = safeInline(js, "script")
  const refresh = Math.max(1, Math.round(options.refreshSeconds))
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dynamic Cluster</title>
<link rel="icon" href="data:,">
<style>${style}</style>
</head>
<body data-token-required="${options.tokenRequired}" data-token-for-reads="${options.tokenForReads}" data-refresh="${refresh}" data-decisions="${options.decisions === true}">
<header>
  <h1>Dynamic Cluster</h1>
  <label class="switch"><input type="checkbox" id="auto-mode" aria-label="Auto mode"><span id="auto-label">Auto mode</span></label>
  <span id="cluster-health" class="health"></span>
  <span id="tasks" class="meta"></span>
  <span class="spacer"></span>
  <form id="token-form" hidden autocomplete="off">
    <span class="hint" id="token-state"></span>
    <input type="password" id="token-input" placeholder="API token" aria-label="API token" autocomplete="off">
    <button type="submit">Use token</button>
  </form>
  <span id="last-action" class="meta"></span>
  <span id="updated" class="meta"></span>
  <button type="button" id="refresh-now">Refresh</button>
</header>
<div id="shadow-banner" class="banner" role="status" hidden>Shadow mode: decisions are not carried out</div>
<main>
  <div id="errors" aria-live="assertive"></div>
  <div id="refresh-error" class="error" role="alert" hidden></div>
  <section>
    <h2>Nodes and cores by state <span class="count">(kept by the server, in the daemon's clock: simulated time under --sim)</span></h2>
    <div class="charts">
      <figure><figcaption>Nodes</figcaption><svg id="chart-nodes" class="chart" role="img" aria-label="Nodes by state over time"></svg><div id="chart-nodes-legend" class="legend"></div></figure>
      <figure><figcaption>Cores</figcaption><svg id="chart-cores" class="chart" role="img" aria-label="Cores by state over time"></svg><div id="chart-cores-legend" class="legend"></div></figure>
    </div>
  </section>
  <section>
    <h2>Cloud resources <span class="count" id="resources-count"></span></h2>
    <table id="resources">
      <thead><tr><th>Name</th><th>Type</th><th class="num">Priority</th><th>Flag</th><th class="num">Current</th><th class="num">Min</th><th class="num">Max</th><th class="num">Cores/node</th><th>Cloud</th><th>Actions</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Worker nodes <span class="count" id="nodes-count"></span></h2>
    <table id="nodes">
      <thead><tr><th>Hostname</th><th>Resource</th><th>Type</th><th>State</th><th class="num">Cores</th><th>Jobs</th><th>In state</th><th>Instance</th><th>Actions</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Queued jobs <span class="count" id="jobs-count"></span></h2>
    <table id="jobs">
      <thead><tr><th>Job</th><th>Name</th><th>Owner</th><th>Queue</th><th>Account</th><th class="num">Cores</th><th class="num">Cores/node</th><th>Walltime</th><th class="num">Priority</th><th>State</th><th>Waiting because</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="decisions-panel">
    <h2>Decisions <span class="count" id="decisions-count"></span>
      <span class="filters">
        <label>Resource <select id="decisions-resource"><option value="">all</option></select></label>
        <label>Kind <select id="decisions-kind"><option value="">all</option></select></label>
      </span>
    </h2>
    <table id="decisions">
      <thead><tr><th>Last taken</th><th>Kind</th><th>Resource</th><th>Reason</th><th>Why</th><th>Jobs</th><th class="num">Times</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<script>${script}</script>
</body>
</html>
`
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(style)}`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join("; ")
  return { html, contentSecurityPolicy }
}
