/**
 * Many seeds per variant (`simulate SCEN --policy a,b --seeds 1-10`): per
 * variant the mean over seeds and a 95 % t-interval of mean wait, p95 wait,
 * cost, paid core-hours and boots; for every variant after the first, the
 * change against the first paired by seed (the per-seed relative change, its
 * mean and t-interval); an SVG scatter of cost against mean wait for the
 * report (one point per seed, one colour per variant) and, for a sweep, the
 * frontier of the means. Pure functions of the summaries: same seeds → same
 * bytes.
 */
import { escapeHtml, RUN_COLORS } from "./report.ts"
import type { Summary } from "./summary.ts"

/** `1-10`, `6-10`, `1,3,5` or `1-3,7` → the seeds in order; null for anything else. */
/** What is wrong with a `--seeds` value parseSeeds refuses (the words after "--seeds VALUE: "). */
export const seedsProblem = (s: string): string => {
  for (const part of s.split(",")) {
    const m = /^\s*(-?\d+)\s*-\s*(-?\d+)\s*$/.exec(part)
    if (m !== null && Number(m[2]) < Number(m[1])) return `the range ${part.trim()} ends before it starts (e.g. ${m[2]}-${m[1]})`
    if (m !== null && Number(m[2]) - Number(m[1]) > 10_000) return `the range ${part.trim()} has more than 10,001 seeds`
  }
  // (every part alone is fine: together they name a seed twice)
  if (s.split(",").every((p) => parseSeeds(p) !== null)) return "a seed is named twice"
  return "expected a range or list of integers, e.g. 1-10, 6-10 or 1,3,5"
}

export const parseSeeds = (s: string): Array<number> | null => {
  const out: Array<number> = []
  for (const part of s.split(",")) {
    const m = /^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$/.exec(part)
    if (m === null) return null
    const a = Number(m[1])
    const b = m[2] === undefined ? a : Number(m[2])
    if (b < a || b - a > 10_000) return null
    for (let k = a; k <= b; k++) out.push(k)
  }
  return out.length === 0 || new Set(out).size !== out.length ? null : out
}

// two-sided 95 % quantiles of Student's t, degrees of freedom 1..30
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042]

/** t(0.975, df); the normal 1.96 beyond 30 degrees of freedom. */
export const t975 = (df: number): number => (df < 1 ? NaN : df <= 30 ? T975[df - 1] : 1.96)

export interface Interval {
  readonly mean: number
  /** Half width of the 95 % t-interval (NaN for one value). */
  readonly half: number
  readonly n: number
}

export const tInterval = (xs: ReadonlyArray<number>): Interval => {
  const n = xs.length
  const mean = n === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / n
  if (n < 2) return { mean, half: NaN, n }
  const v = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)
  return { mean, half: t975(n - 1) * Math.sqrt(v / n), n }
}

export interface Metric {
  readonly key: string
  readonly name: string
  readonly of: (s: Summary) => number | null
  readonly digits: number
}

export const METRICS: ReadonlyArray<Metric> = [
  { key: "mean_wait", name: "mean wait (s)", of: (s) => s.wait.mean, digits: 1 },
  { key: "p95_wait", name: "p95 wait (s)", of: (s) => s.wait.p95, digits: 1 },
  { key: "cost", name: "cost", of: (s) => s.total.cost, digits: 2 },
  { key: "paid_core_hours", name: "paid core-hours", of: (s) => s.total.core_hours, digits: 1 },
  { key: "boots", name: "boots", of: (s) => s.total.boots, digits: 1 }
]

export interface SeedVariant {
  readonly label: string
  /** One summary per seed, in the order of `seeds`. */
  readonly runs: ReadonlyArray<Summary>
}

export interface VariantStats {
  readonly label: string
  readonly stats: Record<string, Interval | null>
  /** Against the first variant, paired by seed, in %; null for the first. */
  readonly delta: Record<string, Interval | null> | null
}

const values = (runs: ReadonlyArray<Summary>, m: Metric): Array<number> | null => {
  const xs = runs.map(m.of)
  return xs.some((x) => x === null) ? null : (xs as Array<number>)
}

export const seedStats = (variants: ReadonlyArray<SeedVariant>): Array<VariantStats> => {
  const base = variants[0]
  return variants.map((v, i) => {
    const stats: Record<string, Interval | null> = {}
    const delta: Record<string, Interval | null> = {}
    for (const m of METRICS) {
      const xs = values(v.runs, m)
      stats[m.key] = xs === null ? null : tInterval(xs)
      const bs = values(base.runs, m)
      if (i === 0) continue
      if (xs === null || bs === null || bs.some((b) => b === 0)) {
        delta[m.key] = null
        continue
      }
      delta[m.key] = tInterval(xs.map((x, k) => (x / bs[k] - 1) * 100))
    }
    return { label: v.label, stats, delta: i === 0 ? null : delta }
  })
}

const num = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : "–")
const pm = (iv: Interval | null, d: number) => (iv === null ? "–" : Number.isFinite(iv.half) ? `${num(iv.mean, d)} ± ${num(iv.half, d)}` : num(iv.mean, d))
const pct = (iv: Interval | null) => {
  if (iv === null) return "–"
  const sign = (x: number) => (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(1)
  return Number.isFinite(iv.half) ? `${sign(iv.mean)} % [${sign(iv.mean - iv.half)}, ${sign(iv.mean + iv.half)}]` : `${sign(iv.mean)} %`
}

/** The table of `simulate --seeds`: one row per metric, per variant its mean ± half-width and (after the first) its Δ % [95 % interval]. */
export const formatSeedTable = (stats: ReadonlyArray<VariantStats>, heading: string, currency: string): string => {
  const headers = [""]
  for (const [i, v] of stats.entries()) {
    headers.push(v.label)
    if (i > 0) headers.push(`Δ vs ${stats[0].label}`)
  }
  const rows = METRICS.map((m) => {
    const cells = [m.key === "cost" ? `cost (${currency})` : m.name]
    for (const [i, v] of stats.entries()) {
      cells.push(pm(v.stats[m.key], m.digits))
      if (i > 0) cells.push(pct(v.delta?.[m.key] ?? null))
    }
    return cells
  })
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]) : c.padStart(widths[i]))).join("  ").trimEnd()
  return [heading, "", line(headers), ...rows.map(line)].join("\n") + "\n"
}

/** `stats` as plain JSON (means, half-widths, Δ) for `--json`. */
export const seedStatsJson = (stats: ReadonlyArray<VariantStats>) =>
  stats.map((v) => ({
    variant: v.label,
    ...Object.fromEntries(METRICS.map((m) => [m.key, v.stats[m.key]])),
    ...(v.delta === null ? {} : { delta_percent: Object.fromEntries(METRICS.map((m) => [m.key, v.delta![m.key]])) })
  }))

// ---------------------------------------------------------------- SVG scatter

interface Pt {
  readonly x: number
  readonly y: number
}

/**
 * An SVG scatter of cost (y) against mean wait (x): one point per seed, one
 * colour per variant; with `line`, the variants' means joined in order (the
 * frontier of a sweep).
 */
export const costWaitScatter = (variants: ReadonlyArray<SeedVariant>, opts: { readonly currency: string; readonly line: boolean }): string => {
  const W = 640, H = 380, L = 70, R = 20, T = 20, B = 50
  const pts = variants.map((v) => v.runs.map((s) => ({ x: s.wait.mean, y: s.total.cost ?? s.total.core_hours })))
  const all = pts.flat()
  const priced = variants.every((v) => v.runs.every((s) => s.total.cost !== null))
  const span = (xs: Array<number>) => {
    const lo = Math.min(...xs), hi = Math.max(...xs)
    const pad = hi > lo ? (hi - lo) * 0.08 : Math.max(1, Math.abs(hi) * 0.05)
    return [lo - pad, hi + pad] as const
  }
  const [x0, x1] = span(all.map((p) => p.x))
  const [y0, y1] = span(all.map((p) => p.y))
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R)
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B)
  const f = (x: number) => x.toFixed(1)
  const out: Array<string> = [`<svg xmlns="http://www.w3.org/2000/svg" class="scatter" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img">`]
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`)
  for (let k = 0; k <= 4; k++) {
    const xv = x0 + ((x1 - x0) * k) / 4, yv = y0 + ((y1 - y0) * k) / 4
    out.push(`<text x="${f(sx(xv))}" y="${H - B + 16}" font-size="11" text-anchor="middle">${xv.toFixed(1)}</text>`)
    out.push(`<text x="${L - 6}" y="${f(sy(yv) + 4)}" font-size="11" text-anchor="end">${yv.toFixed(1)}</text>`)
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" font-size="12" text-anchor="middle">mean wait (s)</text>`)
  out.push(`<text x="14" y="${(T + H - B) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">${escapeHtml(priced ? `cost (${opts.currency})` : "paid core-hours")}</text>`)
  const means: Array<Pt> = pts.map((ps) => ({ x: ps.reduce((a, p) => a + p.x, 0) / ps.length, y: ps.reduce((a, p) => a + p.y, 0) / ps.length }))
  if (opts.line && means.length > 1) out.push(`<polyline fill="none" stroke="#555" stroke-dasharray="4 3" points="${means.map((m) => `${f(sx(m.x))},${f(sy(m.y))}`).join(" ")}"/>`)
  pts.forEach((ps, i) => {
    const c = RUN_COLORS[i % RUN_COLORS.length]
    for (const p of ps) out.push(`<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="4" fill="${c}" fill-opacity="0.75"><title>${escapeHtml(variants[i].label)}: ${p.x} s, ${p.y}</title></circle>`)
    if (opts.line) out.push(`<rect x="${f(sx(means[i].x) - 5)}" y="${f(sy(means[i].y) - 5)}" width="10" height="10" fill="none" stroke="${c}" stroke-width="2"/>`)
  })
  variants.forEach((v, i) => {
    const y = T + 14 + i * 15
    out.push(`<circle cx="${W - R - 150}" cy="${y - 4}" r="4" fill="${RUN_COLORS[i % RUN_COLORS.length]}"/><text x="${W - R - 140}" y="${y}" font-size="11">${escapeHtml(v.label)}</text>`)
  })
  out.push("</svg>")
  return out.join("\n")
}

/** The report section of a multi-seed run: the table and the scatter. */
export const seedSection = (stats: ReadonlyArray<VariantStats>, variants: ReadonlyArray<SeedVariant>, opts: { readonly seeds: string; readonly currency: string; readonly sweep: boolean }): string =>
  `<h2>Seeds ${escapeHtml(opts.seeds)}: means and 95 % intervals</h2>
<p class="note">Mean over seeds ± the half-width of a 95 % t-interval; Δ: the per-seed change against ${escapeHtml(stats[0].label)} (same seed, paired), its mean and 95 % interval.
The charts above show the first seed's runs.</p>
<pre>${escapeHtml(formatSeedTable(stats, "", opts.currency).trim())}</pre>
<h2>Cost against mean wait${opts.sweep ? ": the frontier of the sweep" : ""}</h2>
<p class="note">One point per seed, one colour per ${opts.sweep ? "value" : "variant"}${opts.sweep ? "; squares: the means, joined in the order of the values" : ""}.</p>
${costWaitScatter(variants, { currency: opts.currency, line: opts.sweep })}
`
