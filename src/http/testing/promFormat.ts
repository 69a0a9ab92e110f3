/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests:
 * returns the problems it finds (empty = valid) and the parsed samples.
 * Stricter than Prometheus itself where our own output should be tidy:
 * every family has HELP and TYPE before its samples, families are contiguous,
 * counters end in _total, histograms are cumulative and end in +Inf = _count.
 */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Exposition {
  readonly problems: ReadonlyArray<string>
  readonly samples: ReadonlyArray<Sample>
  readonly types: ReadonlyMap<string, string>
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"])

const parseValue = (s: string): number | undefined => {
  if (s === "NaN") return NaN
  if (s === "+Inf" || s === "Inf") return Infinity
  if (s === "-Inf") return -Infinity
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined
  return Number(s)
}

/** Parses `{a="x",b="y"}` starting at `i`; returns labels and the index after `}`. */
const parseLabels = (line: string, start: number): { labels: Record<string, string>; end: number } | string => {
  const labels: Record<string, string> = {}
  let i = start + 1
  while (true) {
    if (line[i] === "}") return { labels, end: i + 1 }
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))
    if (m === null) return `bad label name at column ${i + 1}`
    const name = m[0]
    i += name.length
    if (line[i] !== "=" || line[i + 1] !== '"') return `expected ="..." after label ${name}`
    i += 2
    let value = ""
    while (i < line.length && line[i] !== '"') {
      if (line[i] === "\\") {
        const next = line[i + 1]
        if (next === "\\") value += "\\"
        else if (next === '"') value += '"'
        else if (next === "n") value += "\n"
        else return `invalid escape \\${next ?? ""} in label ${name}`
        i += 2
      } else {
        value += line[i]
        i += 1
      }
    }
    if (line[i] !== '"') return `unterminated value of label ${name}`
    i += 1
    if (name in labels) return `label ${name} repeated`
    if (!LABEL_NAME.test(name) || name.startsWith("__")) return `reserved or invalid label name ${name}`
    labels[name] = value
    if (line[i] === ",") i += 1
    else if (line[i] !== "}") return `expected , or } after label ${name}`
  }
}

const familyOf = (name: string, types: ReadonlyMap<string, string>): string => {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length)
      const t = types.get(base)
      if (t === "histogram" || (t === "summary" && suffix !== "_bucket")) return base
    }
  }
  return name
}

export const parseExposition = (text: string): Exposition => {
  const problems: Array<string> = []
  const samples: Array<Sample> = []
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const finished = new Set<string>()
  const series = new Set<string>()
  let current: string | null = null

  if (!text.endsWith("\n")) problems.push("the text must end with a line feed")
  const lines = text.split("\n")
  if (lines[lines.length - 1] === "") lines.pop()

  const enter = (family: string, n: number) => {
    if (current !== family) {
      if (current !== null) finished.add(current)
      if (finished.has(family)) problems.push(`line ${n}: family ${family} is not contiguous`)
      current = family
    }
  }

  lines.forEach((line, idx) => {
    const n = idx + 1
    if (line.trim() === "") return problems.push(`line ${n}: empty line`)
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
      if (m === null) return // a plain comment
      const [, kind, name, rest = ""] = m
      if (!METRIC_NAME.test(name)) return problems.push(`line ${n}: invalid metric name ${name}`)
      enter(name, n)
      if (kind === "HELP") {
        if (helps.has(name)) problems.push(`line ${n}: second HELP for ${name}`)
        helps.add(name)
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) problems.push(`line ${n}: invalid escape in HELP of ${name}`)
      } else {
        if (types.has(name)) problems.push(`line ${n}: second TYPE for ${name}`)
        if (!TYPES.has(rest)) problems.push(`line ${n}: unknown type ${rest}`)
        if (samples.some((s) => familyOf(s.name, types) === name)) problems.push(`line ${n}: TYPE for ${name} after its samples`)
        types.set(name, rest)
        if (rest === "counter" && !name.endsWith("_total")) problems.push(`line ${n}: counter ${name} should end in _total`)
      }
      return
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
    if (nm === null) return problems.push(`line ${n}: cannot read a metric name`)
    const name = nm[0]
    let i = name.length
    let labels: Record<string, string> = {}
    if (line[i] === "{") {
      const l = parseLabels(line, i)
      if (typeof l === "string") return problems.push(`line ${n}: ${l}`)
      labels = l.labels
      i = l.end
    }
    if (line[i] !== " ") return problems.push(`line ${n}: expected a space before the value`)
    const parts = line.slice(i + 1).split(" ")
    if (parts.length > 2) return problems.push(`line ${n}: too many fields`)
    const value = parseValue(parts[0])
    if (value === undefined) return problems.push(`line ${n}: invalid value ${JSON.stringify(parts[0])}`)
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1])) problems.push(`line ${n}: invalid timestamp`)
    const family = familyOf(name, types)
    enter(family, n)
    if (!types.has(family)) problems.push(`line ${n}: no TYPE for ${family} before its samples`)
    if (!helps.has(family)) problems.push(`line ${n}: no HELP for ${family} before its samples`)
    const key = name + JSON.stringify(Object.entries(labels).sort())
    if (series.has(key)) problems.push(`line ${n}: duplicate series ${name}${JSON.stringify(labels)}`)
    series.add(key)
    if (types.get(family) === "counter" && !(value >= 0)) problems.push(`line ${n}: counter ${name} is negative or NaN`)
    samples.push({ name, labels, value })
  })

  // Histograms: cumulative buckets ending with +Inf equal to _count, per label set (without le).
  for (const [family, type] of types) {
    if (type !== "histogram") continue
    const groups = new Map<string, Array<{ le: number; value: number }>>()
    const counts = new Map<string, number>()
    for (const s of samples) {
      const { le, ...rest } = s.labels
      const g = JSON.stringify(Object.entries(rest).sort())
      if (s.name === `${family}_bucket`) {
        const bound = le === undefined ? undefined : parseValue(le)
        if (bound === undefined) {
          problems.push(`${family}_bucket without a valid le label`)
          continue
        }
        groups.set(g, [...(groups.get(g) ?? []), { le: bound, value: s.value }])
      } else if (s.name === `${family}_count`) counts.set(g, s.value)
    }
    if (groups.size === 0) problems.push(`histogram ${family} has no buckets`)
    for (const [g, buckets] of groups) {
      for (let k = 1; k < buckets.length; k++) {
        if (!(buckets[k].le > buckets[k - 1].le)) problems.push(`histogram ${family}: le not ascending`)
        if (buckets[k].value < buckets[k - 1].value) problems.push(`histogram ${family}: buckets not cumulative`)
      }
      const last = buckets[buckets.length - 1]
      if (last.le !== Infinity) problems.push(`histogram ${family}: no +Inf bucket`)
      if (counts.get(g) !== last.value) problems.push(`histogram ${family}: +Inf bucket (${last.value}) differs from _count (${counts.get(g)})`)
      if (!samples.some((s) => s.name === `${family}_sum`)) problems.push(`histogram ${family}: no _sum`)
    }
  }
  return { problems, samples, types }
}

/** The value of one series, or undefined. */
export const sampleValue = (e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined =>
  e.samples.find(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value
