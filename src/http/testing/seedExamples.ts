/**
 * The example responses of the REST contract (../shared/seed/restapi.md),
 * read from the seed itself so the tests compare against the contract and not
 * against a copy of it. The seed's examples are Python-flavoured JSON
 * (`True`, one key missing its opening quote); they are repaired before parsing.
 */
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** ../shared beside the repository root (src/http/testing → ../../../..). */
export const seedPath = fileURLToPath(new URL("../../../../shared/seed/restapi.md", import.meta.url))

export const seedAvailable = (): boolean => existsSync(seedPath)

const repair = (block: string): string =>
  block
    .replace(/<\/?(pre|code)[^>]*>/g, "")
    .replace(/\bTrue\b/g, "true")
    .replace(/\bFalse\b/g, "false")
    // `    property": null` → `    "property": null`
    .replace(/^(\s*)([A-Za-z_][\w-]*)":/gm, '$1"$2":')

/** Example response of each "### METHOD /path" section, parsed. */
export const seedExamples = (): ReadonlyMap<string, unknown> => {
  const text = readFileSync(seedPath, "utf8")
  const out = new Map<string, unknown>()
  const sections = text.split(/^### /m).slice(1)
  for (const section of sections) {
    const title = section.split("\n", 1)[0].replace(/\\/g, "").trim()
    const m = /#### example response\s*\n([\s\S]*?)(?=\n####|\n### |$)/i.exec(section)
    if (m === null) continue
    let block = m[1]
    const pre = /<pre[^>]*>([\s\S]*?)<\/pre>/.exec(block)
    if (pre !== null) block = pre[1]
    else {
      // indented code block: drop one level of indentation (four spaces or a tab)
      block = block
        .split("\n")
        .map((l) => l.replace(/^( {4}|\t)/, ""))
        .join("\n")
    }
    out.set(title, JSON.parse(repair(block)))
  }
  return out
}

type Kind = "null" | "array" | "object" | "string" | "number" | "boolean"
const kindOf = (v: unknown): Kind =>
  v === null ? "null" : Array.isArray(v) ? "array" : (typeof v as Kind)

/**
 * Differences between an actual value and the seed's example: same keys, same
 * JSON types (null matches anything, since the seed shows nulls for optional
 * values). Free-form maps (`skip`) are only checked to be objects or null.
 */
export const shapeDiff = (
  actual: unknown,
  example: unknown,
  path = "$",
  skip: ReadonlySet<string> = new Set(["extra_attributes", "config", "cluster"])
): Array<string> => {
  const ka = kindOf(actual)
  const ke = kindOf(example)
  if (ka === "null" || ke === "null") return []
  if (ka !== ke) return [`${path}: expected ${ke}, got ${ka}`]
  if (ka === "array") {
    const ex = example as Array<unknown>
    if (ex.length === 0) return []
    return (actual as Array<unknown>).flatMap((a, i) => shapeDiff(a, ex[Math.min(i, ex.length - 1)], `${path}[${i}]`, skip))
  }
  if (ka === "object") {
    const a = actual as Record<string, unknown>
    const e = example as Record<string, unknown>
    const out: Array<string> = []
    for (const k of Object.keys(e)) if (!(k in a)) out.push(`${path}.${k}: missing`)
    for (const k of Object.keys(a)) if (!(k in e)) out.push(`${path}.${k}: not in the seed`)
    for (const k of Object.keys(e)) {
      if (!(k in a)) continue
      if (skip.has(k)) {
        const kk = kindOf(a[k])
        if (kk !== "object" && kk !== "null") out.push(`${path}.${k}: expected an object, got ${kk}`)
        continue
      }
      out.push(...shapeDiff(a[k], e[k], `${path}.${k}`, skip))
    }
    return out
  }
  return []
}
