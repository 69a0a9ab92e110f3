/**
 * Safe command runner (SPEC §2 "Command templates are executed safely").
 *
 * A template is a Python-format string ("qmgr -c \"create node {0}\""). It is
 * split into an argument vector first and the values are substituted into
 * single arguments afterwards, so a value can never add arguments or shell
 * syntax. Templates that really need a shell (pipes, back-quotes, `$(`, `;`,
 * `&&`, redirections outside quotes) run as `/bin/sh -c SCRIPT sh V0 V1 ...`,
 * where every {N} of the script became a quoted positional reference
 * ("${N+1}"), never the value itself.
 */
import { Data, Effect, Either } from "effect"
import { execa } from "execa"
import { ClusterError } from "../engine/services.ts"

// ---------------------------------------------------------------- errors

/** The template itself is malformed (unbalanced quotes or braces, bad placeholder). */
export class TemplateError extends Data.TaggedError("TemplateError")<{
  readonly template: string
  readonly message: string
}> {}

export type ValueKind = "hostname" | "jobid" | "name" | "hostgroup" | "option" | "ip" | "arg"

/** A value refused by a validator before it got anywhere near a command. */
export class InvalidValueError extends Data.TaggedError("InvalidValueError")<{
  readonly kind: ValueKind
  readonly value: string
  readonly message: string
}> {}

export type CommandFailure =
  | "template" // the template could not be split / formatted
  | "invalid-value" // a value did not pass validation
  | "spawn" // the program could not be started (not found, not executable, ...)
  | "timeout" // killed after timeoutMs
  | "signal" // terminated by a signal
  | "exit" // non-zero exit code (only from runCommandOk)

export class CommandError extends Data.TaggedError("CommandError")<{
  readonly reason: CommandFailure
  /** The argv that was (or would have been) executed; the template split when there is none. */
  readonly argv: ReadonlyArray<string>
  readonly exitCode: number | null
  readonly stderr: string
  readonly timedOut: boolean
  readonly message: string
}> {}

/** Maps a command failure into the Cluster service's error type. */
export const toClusterError =
  (op: string) =>
  (e: CommandError): ClusterError =>
    new ClusterError({ op, message: e.message, cause: e })

// ---------------------------------------------------------------- validators

const HOSTNAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/
const JOBID = /^[A-Za-z0-9_][A-Za-z0-9._[\]-]*$/
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._@+-]*$/
const HOSTGROUP = /^@[A-Za-z0-9_][A-Za-z0-9._-]*$/
const OPTION = /^--?[A-Za-z][A-Za-z0-9-]*$/
const IP = /^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)$/
/** Anything a command of SPEC §2 legitimately receives: no blanks, quotes or shell syntax. */
const ARG = /^[A-Za-z0-9._,:=@/+%[\]-]*$/

const validator =
  (kind: ValueKind, pattern: RegExp, maxLength: number, what: string) =>
  (value: string): Either.Either<string, InvalidValueError> =>
    typeof value === "string" && value.length <= maxLength && pattern.test(value)
      ? Either.right(value)
      : Either.left(
          new InvalidValueError({
            kind,
            value: String(value),
            message: `invalid ${kind} ${JSON.stringify(String(value).slice(0, 200))}: expected ${what}`
          })
        )

/** Host names: letters, digits, `.`, `_`, `-`; not starting with `-` or `.`. */
export const validateHostname = validator("hostname", HOSTNAME, 253, "[A-Za-z0-9._-]+ not starting with '-' or '.'")
/** Job ids (also array jobs `12[3].server`). */
export const validateJobId = validator("jobid", JOBID, 255, "[A-Za-z0-9._[]-]+ not starting with '-'")
/** Resource, queue, account, property and PE names. */
export const validateName = validator("name", NAME, 255, "[A-Za-z0-9._@+-]+ not starting with '-'")
/** SGE host groups (`@cloud`). */
export const validateHostgroup = validator("hostgroup", HOSTGROUP, 255, "@ followed by [A-Za-z0-9._-]+")
/** Command-line options chosen by our own code (`-x`, `-o`, `-aattr`). */
export const validateOption = validator("option", OPTION, 64, "an option such as -x or -aattr")
export const validateIp = validator("ip", IP, 64, "an IPv4 or IPv6 address")
/** The floor every value passed to runCommand must meet. */
export const validateArg = validator("arg", ARG, 4096, "no blanks, quotes or shell characters")

export const isHostname = (v: string): boolean => Either.isRight(validateHostname(v))
export const isJobId = (v: string): boolean => Either.isRight(validateJobId(v))
export const isName = (v: string): boolean => Either.isRight(validateName(v))

// ---------------------------------------------------------------- templates

type Piece = string | { readonly index: number }

/** Python str.format on numbered fields only: literal runs and placeholders. */
const formatPieces = (template: string): Either.Either<ReadonlyArray<Piece>, TemplateError> => {
  const pieces: Array<Piece> = []
  let lit = ""
  const fail = (message: string) => Either.left(new TemplateError({ template, message }))
  for (let i = 0; i < template.length; i++) {
    const c = template[i]
    if (c === "{") {
      if (template[i + 1] === "{") {
        lit += "{"
        i++
        continue
      }
      const m = /^\{([0-9]{1,3})\}/.exec(template.slice(i, i + 6))
      if (m === null) return fail(`only numbered placeholders such as {0} are supported (column ${i + 1}); write {{ for a literal brace`)
      if (lit !== "") pieces.push(lit)
      lit = ""
      pieces.push({ index: Number(m[1]) })
      i += m[0].length - 1
    } else if (c === "}") {
      if (template[i + 1] !== "}") return fail(`single '}' at column ${i + 1}; write }} for a literal brace`)
      lit += "}"
      i++
    } else {
      lit += c
    }
  }
  if (lit !== "") pieces.push(lit)
  return Either.right(pieces)
}

/** A word of an argv template: literal text and placeholders, and whether any part was quoted. */
interface Word {
  readonly parts: ReadonlyArray<Piece>
  readonly quoted: boolean
}

export interface ArgvTemplate {
  readonly kind: "argv"
  /** The words, each still a template (placeholders as {N}, literal braces as {{ }}). */
  readonly argv: ReadonlyArray<string>
  readonly words: ReadonlyArray<Word>
  readonly placeholders: number
}

export interface ShellTemplate {
  readonly kind: "shell"
  /** The /bin/sh script with every placeholder replaced by a quoted "${N+1}" reference. */
  readonly script: string
  readonly placeholders: number
}

export type SplitTemplate = ArgvTemplate | ShellTemplate

const escapeBraces = (s: string) => s.replace(/[{}]/g, (b) => b + b)
const renderWord = (w: Word) => w.parts.map((p) => (typeof p === "string" ? escapeBraces(p) : `{${p.index}}`)).join("")

const countPlaceholders = (pieces: ReadonlyArray<Piece>) =>
  pieces.reduce((n, p) => (typeof p === "string" ? n : Math.max(n, p.index + 1)), 0)

const startsExpansion = (s: string, i: number) => {
  const n = s[i + 1]
  return n !== undefined && /[A-Za-z0-9_({@*#?$!-]/.test(n)
}

/**
 * Splits a template into words with POSIX shell quoting ('...', "...", \x).
 * Returns null when the template uses shell syntax outside quotes (or
 * expansions inside double quotes), i.e. it needs /bin/sh.
 */
const splitWords = (template: string, pieces: ReadonlyArray<Piece>): Either.Either<Array<Word> | null, TemplateError> => {
  const words: Array<Word> = []
  let parts: Array<Piece> = []
  let lit = ""
  let inWord = false
  let quoted = false
  let mode: "normal" | "single" | "double" = "normal"
  const flushLit = () => {
    if (lit !== "") parts.push(lit)
    lit = ""
  }
  const endWord = () => {
    flushLit()
    if (inWord) words.push({ parts, quoted })
    parts = []
    inWord = false
    quoted = false
  }
  for (const piece of pieces) {
    if (typeof piece !== "string") {
      flushLit()
      parts.push(piece)
      inWord = true
      continue
    }
    for (let i = 0; i < piece.length; i++) {
      const c = piece[i]
      if (mode === "single") {
        if (c === "'") mode = "normal"
        else lit += c
        continue
      }
      if (mode === "double") {
        if (c === '"') mode = "normal"
        else if (c === "\\" && i + 1 < piece.length && /[$`"\\\n]/.test(piece[i + 1])) {
          if (piece[i + 1] !== "\n") lit += piece[i + 1]
          i++
        } else if (c === "`" || (c === "$" && startsExpansion(piece, i))) return Either.right(null)
        else lit += c
        continue
      }
      if (c === " " || c === "\t" || c === "\n" || c === "\r") {
        endWord()
      } else if (c === "'") {
        mode = "single"
        inWord = true
        quoted = true
      } else if (c === '"') {
        mode = "double"
        inWord = true
        quoted = true
      } else if (c === "\\") {
        if (i + 1 < piece.length) {
          if (piece[i + 1] !== "\n") {
            lit += piece[i + 1]
            inWord = true
            quoted = true
          }
          i++
        } else {
          return Either.left(new TemplateError({ template, message: "a backslash must not end the template or precede a placeholder" }))
        }
      } else if ("|&;<>()`".includes(c) || (c === "$" && startsExpansion(piece, i))) {
        return Either.right(null)
      } else {
        lit += c
        inWord = true
      }
    }
  }
  if (mode !== "normal") {
    return Either.left(new TemplateError({ template, message: `unterminated ${mode === "single" ? "single" : "double"} quote` }))
  }
  endWord()
  return Either.right(words)
}

type Ctx = "code" | "bq" | "paren" | "single" | "double"

/**
 * Writes the /bin/sh script: the template text as written (braces unescaped)
 * with each placeholder replaced by a positional parameter reference quoted
 * for the context it appears in, so the shell never parses a value.
 */
const shellScript = (template: string, pieces: ReadonlyArray<Piece>): Either.Either<string, TemplateError> => {
  const stack: Array<Ctx> = ["code"]
  const top = () => stack[stack.length - 1]
  let out = ""
  for (const piece of pieces) {
    if (typeof piece !== "string") {
      const ref = `\${${piece.index + 1}}`
      const ctx = top()
      out += ctx === "double" ? ref : ctx === "single" ? `'"${ref}"'` : `"${ref}"`
      continue
    }
    for (let i = 0; i < piece.length; i++) {
      const c = piece[i]
      const ctx = top()
      out += c
      if (ctx === "single") {
        if (c === "'") stack.pop()
        continue
      }
      if (c === "\\") {
        // A backslash before "${N}" would unquote the value: refuse it.
        if (i + 1 >= piece.length) {
          return Either.left(new TemplateError({ template, message: "a backslash must not end the template or precede a placeholder" }))
        }
        out += piece[++i]
        continue
      }
      if (ctx === "double") {
        if (c === '"') stack.pop()
        else if (c === "`") stack.push("bq")
        else if (c === "$" && piece[i + 1] === "(") {
          out += piece[++i]
          stack.push("paren")
        }
        continue
      }
      // code, bq, paren
      if (c === "'") stack.push("single")
      else if (c === '"') stack.push("double")
      else if (c === "`") {
        if (ctx === "bq") stack.pop()
        else stack.push("bq")
      } else if (c === "$" && piece[i + 1] === "(") {
        out += piece[++i]
        stack.push("paren")
      } else if (c === "(" && ctx === "paren") stack.push("paren")
      else if (c === ")" && ctx === "paren") stack.pop()
    }
  }
  if (stack.length !== 1) {
    return Either.left(
      new TemplateError({ template, message: `unterminated ${top() === "bq" ? "back-quote" : top() === "paren" ? "$(" : top() + " quote"}` })
    )
  }
  return Either.right(out)
}

/**
 * Splits a command template. Plain templates give an argv (still holding the
 * placeholders); templates that need a shell give the /bin/sh script with the
 * placeholders already turned into quoted positional parameters.
 */
export const splitTemplate = (template: string): Either.Either<SplitTemplate, TemplateError> =>
  Either.gen(function* () {
    if (typeof template !== "string" || template.trim() === "") {
      return yield* Either.left(new TemplateError({ template: String(template), message: "empty command template" }))
    }
    const pieces = yield* formatPieces(template)
    const placeholders = countPlaceholders(pieces)
    const words = yield* splitWords(template, pieces)
    if (words !== null) {
      if (words.length === 0) return yield* Either.left(new TemplateError({ template, message: "empty command template" }))
      if (typeof words[0].parts[0] !== "string" || words[0].parts.length !== 1) {
        return yield* Either.left(new TemplateError({ template, message: "the program name must not be a placeholder" }))
      }
      const t: ArgvTemplate = { kind: "argv", argv: words.map(renderWord), words, placeholders }
      return t
    }
    const script = yield* shellScript(template, pieces)
    const t: ShellTemplate = { kind: "shell", script, placeholders }
    return t
  })

/** A program and its arguments, ready for execa (no shell involved). */
export interface Invocation {
  readonly file: string
  readonly args: ReadonlyArray<string>
}

export const invocationArgv = (inv: Invocation): ReadonlyArray<string> => [inv.file, ...inv.args]

/**
 * Substitutes the values (unvalidated: see runCommand for the checked path).
 * An unquoted word that consists only of placeholders and comes out empty is
 * dropped, as the shell would (`pbsnodes {0} {1}` with {1} = "").
 */
export const buildInvocation = (
  template: string,
  values: ReadonlyArray<string>
): Either.Either<Invocation, TemplateError> =>
  Either.flatMap(splitTemplate(template), (t) => {
    if (t.placeholders > values.length) {
      return Either.left(
        new TemplateError({
          template,
          message: `the template uses {${t.placeholders - 1}} but only ${values.length} value(s) were given`
        })
      )
    }
    if (t.kind === "shell") {
      return Either.right({ file: "/bin/sh", args: ["-c", t.script, "sh", ...values.map(String)] })
    }
    const argv: Array<string> = []
    for (const w of t.words) {
      const s = w.parts.map((p) => (typeof p === "string" ? p : String(values[p.index]))).join("")
      if (s === "" && !w.quoted) continue
      argv.push(s)
    }
    return Either.right({ file: argv[0], args: argv.slice(1) })
  })

// ---------------------------------------------------------------- running

export interface CommandResult {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

export interface RunOptions {
  /** Kill the command after this long (default 60 s). */
  readonly timeoutMs?: number
  /** Largest stdout/stderr kept, in bytes (default 512 MiB: a 100,000-job `squeue --json`, see MAX_INPUT_CHARS in parsing.ts). */
  readonly maxBuffer?: number
  /** Extra environment variables (added to the scaler's own). */
  readonly env?: Readonly<Record<string, string>>
}

const DEFAULT_TIMEOUT_MS = 60_000
const DEFAULT_MAX_BUFFER = 512 * 1024 * 1024

const asText = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v))

/** Runs an already built invocation. A non-zero exit code is a result, not a failure. */
export const runInvocation = (inv: Invocation, options: RunOptions = {}): Effect.Effect<CommandResult, CommandError> => {
  const argv = invocationArgv(inv)
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return Effect.tryPromise({
    try: (signal) =>
      execa(inv.file, [...inv.args], {
        reject: false,
        shell: false,
        stdin: "ignore",
        timeout: timeoutMs,
        maxBuffer: options.maxBuffer ?? DEFAULT_MAX_BUFFER,
        cancelSignal: signal,
        forceKillAfterDelay: 2_000,
        ...(options.env ? { env: { ...options.env } } : {})
      }),
    catch: (e) =>
      new CommandError({
        reason: "spawn",
        argv,
        exitCode: null,
        stderr: "",
        timedOut: false,
        message: `cannot run ${inv.file}: ${e instanceof Error ? e.message : String(e)}`
      })
  }).pipe(
    Effect.flatMap((r) => {
      const stderr = asText(r.stderr)
      const stdout = asText(r.stdout)
      if (r.timedOut) {
        return Effect.fail(
          new CommandError({ reason: "timeout", argv, exitCode: null, stderr, timedOut: true, message: `${inv.file} timed out after ${timeoutMs} ms` })
        )
      }
      if (typeof r.exitCode === "number") return Effect.succeed({ stdout, stderr, exitCode: r.exitCode })
      if (r.signal) {
        return Effect.fail(
          new CommandError({ reason: "signal", argv, exitCode: null, stderr, timedOut: false, message: `${inv.file} was killed by ${r.signal}` })
        )
      }
      const detail = "shortMessage" in r && typeof r.shortMessage === "string" ? r.shortMessage : "unknown error"
      return Effect.fail(new CommandError({ reason: "spawn", argv, exitCode: null, stderr, timedOut: false, message: detail }))
    })
  )
}

const templateFailure = (template: string, e: TemplateError | InvalidValueError): CommandError =>
  new CommandError({
    reason: e._tag === "TemplateError" ? "template" : "invalid-value",
    argv: Either.match(splitTemplate(template), { onLeft: () => [template], onRight: (t) => (t.kind === "argv" ? t.argv : ["/bin/sh", "-c", t.script]) }),
    exitCode: null,
    stderr: "",
    timedOut: false,
    message: e.message
  })

/**
 * Validates every value (validateArg), builds the invocation and runs it.
 * Succeeds with the output and exit code of any process that ran to its end.
 */
export const runCommand = (
  template: string,
  values: ReadonlyArray<string> = [],
  options: RunOptions = {}
): Effect.Effect<CommandResult, CommandError> =>
  Effect.suspend(() => {
    for (const v of values) {
      const checked = validateArg(v)
      if (Either.isLeft(checked)) return Effect.fail(templateFailure(template, checked.left))
    }
    return Either.match(buildInvocation(template, values), {
      onLeft: (e) => Effect.fail(templateFailure(template, e)),
      onRight: (inv) => runInvocation(inv, options)
    })
  })

/** Like runCommand, but a non-zero exit code is a failure (reason "exit"). */
export const runCommandOk = (
  template: string,
  values: ReadonlyArray<string> = [],
  options: RunOptions = {}
): Effect.Effect<CommandResult, CommandError> =>
  Effect.flatMap(runCommand(template, values, options), (r) =>
    r.exitCode === 0
      ? Effect.succeed(r)
      : Effect.fail(
          new CommandError({
            reason: "exit",
            argv: Either.match(buildInvocation(template, values), { onLeft: () => [template], onRight: invocationArgv }),
            exitCode: r.exitCode,
            stderr: r.stderr,
            timedOut: false,
            message: `exit code ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().slice(0, 500)}` : ""}`
          })
        )
  )
