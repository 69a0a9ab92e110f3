/**
 * Slurm host lists: `cloud[1-3,7]`, `a[01-03],b`, `rack[1-2]-n[1-4]`, as
 * Slurm prints them (`nodes` of squeue, reservations) and as it passes them
 * to ResumeProgram/SuspendProgram. Total: a malformed list is a ParseError
 * that says where, never an exception; an expansion larger than `limit` is
 * refused rather than allocated.
 */
import { Either } from "effect"
import { ParseError } from "../parsing.ts"

const SOURCE = "host list"
/** More hosts than any cluster has: a list that expands beyond this is refused. */
export const HOSTLIST_LIMIT = 100_000

const fail = (message: string) => Either.left(new ParseError({ source: SOURCE, message }))

/** Splits at commas that are not inside brackets. */
const topLevel = (expr: string): Either.Either<ReadonlyArray<string>, ParseError> => {
  const out: Array<string> = []
  let depth = 0
  let cur = ""
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]
    if (c === "[") {
      if (depth > 0) return fail(`nested "[" at column ${i + 1} of ${JSON.stringify(expr)}`)
      depth++
    } else if (c === "]") {
      if (depth === 0) return fail(`"]" without "[" at column ${i + 1} of ${JSON.stringify(expr)}`)
      depth--
    }
    if (c === "," && depth === 0) {
      out.push(cur)
      cur = ""
    } else cur += c
  }
  if (depth !== 0) return fail(`unclosed "[" in ${JSON.stringify(expr)}`)
  out.push(cur)
  return Either.right(out)
}

/** `1-3,07,9-10` → the numbers as strings, zero padding kept (`07-09` → 07 08 09). */
const expandRanges = (body: string, whole: string, limit: number): Either.Either<ReadonlyArray<string>, ParseError> => {
  const out: Array<string> = []
  for (const part of body.split(",")) {
    const m = /^(\d{1,18})(?:-(\d{1,18}))?$/.exec(part)
    if (m === null) return fail(`bad range ${JSON.stringify(part)} in ${JSON.stringify(whole)}: expected N or N-M with digits`)
    const lo = Number(m[1])
    const hi = m[2] === undefined ? lo : Number(m[2])
    if (hi < lo) return fail(`range ${part} in ${JSON.stringify(whole)} goes backwards`)
    if (out.length + (hi - lo + 1) > limit) return fail(`${JSON.stringify(whole)} expands to more than ${limit} hosts`)
    const width = m[1].length
    for (let n = lo; n <= hi; n++) out.push(String(n).padStart(width, "0"))
  }
  return Either.right(out)
}

const NAME_PART = /^[A-Za-z0-9._-]*$/

/** One comma-free item: literal parts and bracket groups; the product of the groups. */
const expandItem = (item: string, limit: number): Either.Either<ReadonlyArray<string>, ParseError> => {
  let acc: Array<string> = [""]
  let i = 0
  while (i < item.length) {
    const open = item.indexOf("[", i)
    const literal = open < 0 ? item.slice(i) : item.slice(i, open)
    if (!NAME_PART.test(literal)) return fail(`unexpected character in ${JSON.stringify(item)}: host names hold only letters, digits, ".", "_" and "-"`)
    acc = acc.map((a) => a + literal)
    if (open < 0) break
    const close = item.indexOf("]", open)
    // topLevel already checked that brackets pair up
    const nums = expandRanges(item.slice(open + 1, close), item, limit)
    if (Either.isLeft(nums)) return nums
    if (acc.length * nums.right.length > limit) return fail(`${JSON.stringify(item)} expands to more than ${limit} hosts`)
    const next: Array<string> = []
    for (const a of acc) for (const n of nums.right) next.push(a + n)
    acc = next
    i = close + 1
  }
  return Either.right(acc)
}

/**
 * Expands a Slurm host list into host names, in order, duplicates removed.
 * Blanks around items are ignored; an empty list is []. Items may also be
 * separated by blanks (scontrol accepts both).
 */
export const expandHostlist = (expr: unknown, limit: number = HOSTLIST_LIMIT): Either.Either<ReadonlyArray<string>, ParseError> => {
  if (typeof expr !== "string") return fail(`expected text, got ${typeof expr}`)
  if (expr.length > 1_000_000) return fail(`host list too long (${expr.length} characters)`)
  const text = expr.trim().replace(/\s+/g, ",")
  if (text === "" || text === "(null)") return Either.right([])
  const items = topLevel(text)
  if (Either.isLeft(items)) return items
  const seen = new Set<string>()
  const out: Array<string> = []
  for (const raw of items.right) {
    if (raw === "") continue
    const hosts = expandItem(raw, limit)
    if (Either.isLeft(hosts)) return hosts
    for (const h of hosts.right) {
      if (h === "") continue
      if (!seen.has(h)) {
        if (out.length >= limit) return fail(`${JSON.stringify(expr.slice(0, 200))} expands to more than ${limit} hosts`)
        seen.add(h)
        out.push(h)
      }
    }
  }
  return Either.right(out)
}

/**
 * The shortest usual Slurm spelling of a set of host names: names that share
 * a prefix and end in numbers of the same width are grouped
 * (`n1,n2,n3,n7` → `n[1-3,7]`). Inverse of expandHostlist for its output.
 */
export const compressHostlist = (hosts: ReadonlyArray<string>): string => {
  const groups = new Map<string, Array<{ n: number; text: string }>>()
  const plain: Array<string> = []
  const order: Array<string> = []
  for (const h of [...new Set(hosts)]) {
    const m = /^(.*?)(\d+)$/.exec(h)
    if (m === null || m[2].length > 15) {
      plain.push(h)
      order.push(`plain:${h}`)
      continue
    }
    const key = `${m[1]}\u0000${m[2].length > 1 && m[2].startsWith("0") ? m[2].length : 0}`
    if (!groups.has(key)) {
      groups.set(key, [])
      order.push(key)
    }
    groups.get(key)!.push({ n: Number(m[2]), text: m[2] })
  }
  const out: Array<string> = []
  for (const key of order) {
    if (key.startsWith("plain:")) {
      out.push(key.slice(6))
      continue
    }
    const prefix = key.split("\u0000")[0]
    const nums = groups.get(key)!.sort((a, b) => a.n - b.n)
    if (nums.length === 1) {
      out.push(prefix + nums[0].text)
      continue
    }
    const ranges: Array<string> = []
    let start = nums[0]
    let prev = nums[0]
    for (const cur of [...nums.slice(1), null]) {
      if (cur !== null && cur.n === prev.n + 1 && cur.text.length === prev.text.length) {
        prev = cur
        continue
      }
      ranges.push(start === prev ? start.text : `${start.text}-${prev.text}`)
      if (cur !== null) start = prev = cur
    }
    out.push(`${prefix}[${ranges.join(",")}]`)
  }
  return out.join(",")
}
