/**
 * Help that fits the terminal. @effect/cli 0.77 renders help as one line per
 * paragraph, whatever the width (lines of 600 characters), and shows a
 * repeatable option (`--set text...`, zero or more times) as if it were
 * required. `helpConsole` wraps Effect's Console while help is printed:
 * every line is word-wrapped to the width, continuation lines keep the
 * line's indentation (usage lines get two more), and in usage lines a
 * repeatable option is bracketed like the other optional ones
 * (`[--set text]...`).
 */
import type { Console } from "effect"
import { stripAnsi } from "./plain-console.ts"

/** COLUMNS when it is a positive integer, else the terminal's width, else 80 (not a terminal). */
export const helpWidth = (env: NodeJS.ProcessEnv, columns: number | undefined): number => {
  const c = Number(env.COLUMNS)
  if (Number.isInteger(c) && c > 0) return Math.max(c, 20)
  if (columns !== undefined && columns > 0) return Math.max(columns, 20)
  return 80
}

/** Whether the command line asks for help (or gives nothing, which prints the top-level help). */
export const isHelpRequest = (args: ReadonlyArray<string>): boolean => {
  const end = args.indexOf("--")
  const before = end < 0 ? args : args.slice(0, end)
  return before.length === 0 || before.includes("--help") || before.includes("-h")
}

const visible = (s: string) => stripAnsi(s).length

/** `--set text...` → `[--set text]...` in a usage line (a repeatable option may be given zero times). */
export const bracketRepeated = (line: string): string =>
  line.replace(/(^|\s)(--[A-Za-z0-9][A-Za-z0-9-]*(?: [A-Za-z][A-Za-z0-9_-]*)?)\.\.\./g, "$1[$2]...")

/** One line word-wrapped to `width`; continuation lines are indented like the line (+ `extra`). */
export const wrapLine = (line: string, width: number, extra = 0): Array<string> => {
  if (visible(line) <= width) return [line]
  const lead = /^\s*/.exec(stripAnsi(line))![0].length
  const indent = " ".repeat(Math.min(lead + extra, Math.floor(width / 2)))
  const words = line.slice(line.length - line.trimStart().length).split(/ +/)
  const out: Array<string> = []
  let cur = line.slice(0, line.length - line.trimStart().length)
  let curLen = visible(cur)
  let empty = true
  for (const w of words) {
    const wl = visible(w)
    if (!empty && curLen + 1 + wl > width) {
      out.push(cur)
      cur = indent + w
      curLen = indent.length + wl
    } else {
      cur += (empty ? "" : " ") + w
      curLen += (empty ? 0 : 1) + wl
    }
    empty = false
  }
  out.push(cur)
  // a single word longer than the width is cut (a long path in an example)
  return out.flatMap((l) => {
    if (visible(l) <= width || l !== stripAnsi(l)) return [l]
    const parts: Array<string> = []
    for (let i = 0; i < l.length; i += width) parts.push((i === 0 ? "" : indent) + l.slice(i, i + width - (i === 0 ? 0 : indent.length)))
    return parts
  })
}

/** What a number option (`--seed integer`, typed-options in options.ts) takes, instead of "A user-defined piece of text." */
const TYPE_LINE = "A user-defined piece of text."
const numberKind = (header: string): string | null =>
  / integer(\.\.\.)?$/.test(header) ? "An integer." : / number(\.\.\.)?$/.test(header) ? "A number." : null

/** Help text fitted to `width`. */
export const formatHelp = (text: string, width: number): string => {
  let header = ""
  return text
    .split("\n")
    .flatMap((line) => {
      const plain = stripAnsi(line).trimStart()
      if (plain.startsWith("--")) header = stripAnsi(line).trimEnd()
      const kind = plain === TYPE_LINE ? numberKind(header) : null
      if (kind !== null) line = line.replace(TYPE_LINE, kind)
      const usage = plain.startsWith("$ ") || plain.startsWith("- ")
      return wrapLine(usage ? bracketRepeated(line) : line, width, usage ? 2 : 0)
    })
    .join("\n")
}

const fit = (width: number) => (args: ReadonlyArray<unknown>): Array<unknown> =>
  args.map((a) => (typeof a === "string" ? formatHelp(a, width) : a))

/** `base` with what is printed on stdout (help) and stderr (command-line errors) fitted to `width`. */
export const helpConsole = (base: Console.Console, width: number): Console.Console => {
  const f = fit(width)
  const wrap = (g: (...args: ReadonlyArray<any>) => any) => (...args: ReadonlyArray<any>) => g(...f(args))
  return {
    ...base,
    log: wrap(base.log),
    info: wrap(base.info),
    error: wrap(base.error),
    warn: wrap(base.warn),
    unsafe: { ...base.unsafe, log: wrap(base.unsafe.log), info: wrap(base.unsafe.info), error: wrap(base.unsafe.error), warn: wrap(base.unsafe.warn) }
  }
}
