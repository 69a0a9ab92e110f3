/**
 * Plain command-line output when it is not going to a terminal.
 *
 * @effect/cli renders help and command-line errors with @effect/printer-ansi
 * in its "pretty" style, which always writes ANSI colour codes (0.77 has no
 * setting for it and ignores NO_COLOR); both are printed through Effect's
 * Console service. `plainConsole` wraps that service and removes the colour
 * codes (SGR sequences) from what is printed to a stream that should be
 * plain, so `dyncluster --help | less` or a log file gets plain text.
 */
import { Console } from "effect"

/** ANSI "select graphic rendition" sequences: colours and bold/underline (what the printer writes). */
const SGR = /\x1b\[[0-9;]*m/g

export const stripAnsi = (text: string): string => text.replace(SGR, "")

/**
 * Whether a stream gets colour: FORCE_COLOR decides when set (as in Node:
 * "0" or "false" = no colour, anything else = colour), then a non-empty
 * NO_COLOR (no-color.org) means none, else only a terminal gets colour.
 */
export const wantsColour = (isTTY: boolean | undefined, env: NodeJS.ProcessEnv): boolean => {
  const force = env.FORCE_COLOR
  if (force !== undefined) return force !== "0" && force.toLowerCase() !== "false"
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false
  return isTTY === true
}

const plainArgs = (args: ReadonlyArray<unknown>): Array<unknown> => args.map((a) => (typeof a === "string" ? stripAnsi(a) : a))

/**
 * `base` with colour codes removed from log/info/debug (stdout) when `colourOut`
 * is false and from error/warn (stderr) when `colourErr` is false.
 */
export const plainConsole = (base: Console.Console, colourOut: boolean, colourErr: boolean): Console.Console => {
  if (colourOut && colourErr) return base
  const out = (f: (...args: ReadonlyArray<any>) => any) => (colourOut ? f : (...args: ReadonlyArray<any>) => f(...plainArgs(args)))
  const err = (f: (...args: ReadonlyArray<any>) => any) => (colourErr ? f : (...args: ReadonlyArray<any>) => f(...plainArgs(args)))
  return {
    ...base,
    log: out(base.log),
    info: out(base.info),
    debug: out(base.debug),
    error: err(base.error),
    warn: err(base.warn),
    unsafe: {
      ...base.unsafe,
      log: out(base.unsafe.log),
      info: out(base.unsafe.info),
      debug: out(base.unsafe.debug),
      error: err(base.unsafe.error),
      warn: err(base.unsafe.warn)
    }
  }
}
