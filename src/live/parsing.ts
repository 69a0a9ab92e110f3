/**
 * Shared pieces of the batch-system output parsers: the error type, a total
 * XML reader and Schema helpers for XML text. Every parser built on these
 * returns an Either and never throws, whatever the command printed.
 */
import { constants } from "node:buffer"
import { Data, Either, ParseResult, Schema } from "effect"
import { XMLParser, XMLValidator } from "fast-xml-parser"
import { arrayPathsOf, readXmlFast, type RootShape } from "./xml-fast.ts"

export class ParseError extends Data.TaggedError("ParseError")<{
  /** Which output could not be read, e.g. "pbsnodes -x". */
  readonly source: string
  readonly message: string
}> {}

/**
 * Longer outputs are refused, a little below the longest string V8 can hold
 * (buffer.constants.MAX_STRING_LENGTH, about 512 Mi characters): a 100,000-job queue is 34 MB of `qstat -xml` (Grid
 * Engine), 157 MB of `qstat -x` (Torque) and up to 490 MB of `squeue --json`
 * (Slurm 21.08, whose job records are verbose), so any lower limit would
 * blind the scaler to a big queue (#19; it was 64 Mi). Outputs this large are
 * parsed in a worker thread (parse-worker.ts), not on the event loop.
 */
export const MAX_INPUT_CHARS = Math.min(500 * 1024 * 1024, constants.MAX_STRING_LENGTH)

export const parseError = (source: string, message: string) => Either.left(new ParseError({ source, message }))

/** Refuses non-strings and oversized input; the common guard of every parser. */
export const checkInput = (source: string, text: unknown): Either.Either<string, ParseError> =>
  typeof text !== "string"
    ? parseError(source, `expected text, got ${typeof text}`)
    : text.length > MAX_INPUT_CHARS
      ? parseError(source, `output too large (${text.length} characters, limit ${MAX_INPUT_CHARS})`)
      : Either.right(text)

/**
 * Reads well-formed XML into plain objects: attributes as "@_name", text as
 * strings (never numbers), and the elements named in arrayPaths (dotted
 * paths from the root, e.g. "Data.Node") always as arrays.
 */
export const readXml = (source: string, text: string, arrayPaths: ReadonlySet<string>): Either.Either<unknown, ParseError> => {
  try {
    const valid = XMLValidator.validate(text)
    if (valid !== true) {
      const { line, col, msg } = valid.err
      return parseError(source, `malformed XML at line ${line}${col === undefined ? "" : `, column ${col}`}: ${msg}`)
    }
    const parser = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: "@_",
      textNodeName: "#text",
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: true,
      ignoreDeclaration: true,
      ignorePiTags: true,
      processEntities: true,
      htmlEntities: false,
      isArray: (_name, jpath) => typeof jpath === "string" && arrayPaths.has(jpath)
    })
    return Either.right(parser.parse(text) as unknown)
  } catch (e) {
    return parseError(source, `unreadable XML: ${e instanceof Error ? e.message : String(e)}`)
  }
}

const formatPath = (path: ReadonlyArray<PropertyKey>) =>
  path.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join("")

/** Schema decoding whose error names the path of the bad value. */
export const decodeWith =
  <A, I>(schema: Schema.Schema<A, I>, source: string) =>
  (u: unknown): Either.Either<A, ParseError> =>
    Either.mapLeft(Schema.decodeUnknownEither(schema, { errors: "first" })(u), (e) => {
      const issues = ParseResult.ArrayFormatter.formatErrorSync(e)
      const first = issues[0]
      const text = first ? first.message : "invalid structure"
      const where = first && first.path.length > 0 ? `${formatPath(first.path)}${text.startsWith("is ") ? " " : ": "}` : ""
      return new ParseError({ source, message: `${where}${text}` })
    })

/**
 * Which way a job-listing parser reads its input: "fast" tries the cheap path
 * (xml-fast.ts's one-pass XML reader; Slurm's hand check of the records) and
 * falls back to the full one whenever the cheap one cannot answer (the
 * result is the same either way); "full" is fast-xml-parser / JSON.parse and
 * the Schema only, kept for the equivalence tests.
 */
export type Reader = "fast" | "full"

/**
 * Reads an XML document and decodes it with `schema`: through the fast reader
 * when it covers the text, else through readXml and the Schema (whose errors
 * name the bad value's path). `doc` describes the elements the parser uses;
 * its repeated elements are the full reader's array paths too.
 */
export const readXmlAs = <A, I>(
  source: string,
  text: string,
  doc: RootShape,
  schema: Schema.Schema<A, I>,
  reader: Reader = "fast"
): Either.Either<A, ParseError> => {
  if (reader === "fast") {
    const fast = readXmlFast(text, doc)
    // the fast reader builds only what `doc` names, shaped as the Schema decodes it
    if (fast !== undefined) return Either.right(fast as A)
  }
  return Either.flatMap(readXml(source, text, arrayPathsOf(doc)), decodeWith(schema, source))
}

// ---------------------------------------------------------------- XML schemas

/** Any other children of an element. */
export const Rest = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const TextNode = Schema.Struct({ "#text": Schema.optional(Schema.String) }, Rest)

/** The text of a simple element: `<a>x</a>` is "x"; `<a/>` and `<a b='1'/>` are "". */
export const XmlText = Schema.transform(Schema.Union(Schema.String, TextNode), Schema.String, {
  strict: true,
  decode: (v) => (typeof v === "string" ? v : (v["#text"] ?? "")),
  encode: (s) => s
})

export const NonEmptyText = XmlText.pipe(
  Schema.filter((s) => s.trim().length > 0, { message: () => "expected a non-empty value" })
)

/** An element whose content is only children; an empty element reads as "" and becomes {}. */
export const XmlElement = <S extends Schema.Schema.Any>(s: S) =>
  Schema.Union(
    s,
    Schema.transform(Schema.Literal(""), Schema.Struct({}), {
      strict: false,
      decode: () => ({}),
      encode: () => ""
    })
  )

/** A repeated element (read as an array by readXml); absent means none. */
export const Many = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(Schema.Array(s), { default: () => [] })

// ---------------------------------------------------------------- text helpers

export const intOrNull = (s: string | undefined | null): number | null => {
  if (s === undefined || s === null) return null
  const t = s.trim()
  return /^-?\d{1,15}$/.test(t) ? Number(t) : null
}

export const floatOrNull = (s: string | undefined | null): number | null => {
  if (s === undefined || s === null) return null
  const t = s.trim().replace(/^'(.*)'$/, "$1")
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return null
  const n = Number(t)
  return Number.isFinite(n) ? n : null
}

export const nonEmptyOrNull = (s: string | undefined | null): string | null =>
  s === undefined || s === null || s.trim() === "" ? null : s.trim()

/** Simple text children of a decoded element, for extra_attributes. */
export const simpleFields = (o: Record<string, unknown>, skip: ReadonlySet<string>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(o)) {
    if (skip.has(k) || k.startsWith("@_")) continue
    if (typeof v === "string") out[k] = v
  }
  return out
}

/** Lines of command output without the trailing carriage returns. */
export const lines = (text: string): ReadonlyArray<string> => text.split("\n").map((l) => l.replace(/\r$/, ""))

/**
 * Maui/Moab durations: [-][[[D:]H:]M:]S, e.g. "11:31:10" or "5:23:28:36".
 * null when it is not one (e.g. "INFINITY").
 */
export const parseDuration = (s: string): number | null => {
  const m = /^(-?)(\d{1,9}(?::\d{1,9}){0,3})$/.exec(s.trim())
  if (m === null) return null
  const parts = m[2].split(":").map(Number).reverse()
  const unit = [1, 60, 3600, 86400]
  const total = parts.reduce((acc, n, i) => acc + n * unit[i], 0)
  return m[1] === "-" ? -total : total
}
