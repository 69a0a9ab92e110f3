/**
 * A fast reader for the XML job listings of the batch systems (#19): one pass
 * over the text that checks it and builds only the elements a parser uses,
 * skipping the rest (Torque's Variable_List, resources_used, ...). It reads a
 * strict subset of XML and gives exactly what the full reader (parsing.ts
 * `readXml`: fast-xml-parser's XMLValidator and XMLParser, then the parser's
 * Schema) would decode for those elements. Whenever the text leaves that
 * subset or breaks the shape — a comment, CDATA, DOCTYPE or processing
 * instruction, a byte-order mark, a name outside [A-Za-z_:][A-Za-z0-9_.:-]*,
 * a doubtful `&`, a repeated single element, attributes or children where
 * text is expected, a missing or empty required field, text in a container —
 * it gives up (undefined) and the caller runs the full reader, whose answer
 * (and error message) is then the answer. So the fast reader changes no
 * result and refuses nothing on its own: it only has to be right when it
 * answers. src/live/xml-fast.test.ts compares both readers on fixtures,
 * generated and mutated documents.
 */

/** A leaf element read as its text: trimmed, entities decoded; `<a/>` is "". */
export interface TextShape {
  readonly kind: "text"
  /** Schema's NonEmptyText: a value that is blank after trimming is left to the full reader. */
  readonly nonEmpty: boolean
}

/** An element with attributes and text, e.g. `<hard_request name="h_rt">3600</hard_request>`: {"@_name", "#text"}. */
export interface NamedShape {
  readonly kind: "named"
}

export interface Child {
  readonly shape: Shape
  /** Read as an array (fast-xml-parser's isArray); absent is []. */
  readonly many: boolean
  readonly required: boolean
}

/** An element of child elements; the children not named here are skipped (but checked). */
export interface ElementShape {
  readonly kind: "element"
  /** `<a/>` reads as {} (Schema XmlElement); otherwise an empty element is left to the full reader. */
  readonly emptyOk: boolean
  /** Attributes kept, as "@_name". */
  readonly attrs: ReadonlyArray<string>
  readonly children: Readonly<Record<string, Child>>
}

export type Shape = TextShape | NamedShape | ElementShape

/** A document: its root element's name and shape. */
export interface RootShape {
  readonly root: string
  readonly shape: ElementShape
}

export const textShape = (nonEmpty = false): TextShape => ({ kind: "text", nonEmpty })
export const namedShape: NamedShape = { kind: "named" }
export const one = (shape: Shape, required = false): Child => ({ shape, many: false, required })
export const many = (shape: Shape): Child => ({ shape, many: true, required: false })
export const elementShape = (
  children: Readonly<Record<string, Child>>,
  options: { readonly emptyOk?: boolean; readonly attrs?: ReadonlyArray<string> } = {}
): ElementShape => ({
  kind: "element",
  emptyOk: options.emptyOk ?? false,
  attrs: options.attrs ?? [],
  // no prototype: a tag named like an Object method is not a child
  children: Object.assign(Object.create(null) as Record<string, Child>, children)
})

/** The dotted paths of the repeated elements, for fast-xml-parser's isArray (the full reader). */
export const arrayPathsOf = (doc: RootShape): ReadonlySet<string> => {
  const out = new Set<string>()
  const walk = (path: string, s: Shape) => {
    if (s.kind !== "element") return
    for (const [name, c] of Object.entries(s.children)) {
      if (c.many) out.add(`${path}.${name}`)
      walk(`${path}.${name}`, c.shape)
    }
  }
  walk(doc.root, doc.shape)
  return out
}

// ---------------------------------------------------------------- entities

const XML_ENTITIES: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, {
  amp: "&",
  apos: "'",
  gt: ">",
  lt: "<",
  quot: '"'
})

/**
 * Entity references as fast-xml-parser 5 decodes them with processEntities
 * and without htmlEntities (@nodable/entities' EntityDecoder): the five XML
 * names; a numeric reference is kept as written unless it names a code point
 * XML forbids (NUL, a surrogate, C0 controls but tab/LF/CR in XML 1.0),
 * which is removed; anything else is kept.
 */
export const decodeEntities = (str: string, xml11: boolean): string => {
  if (str.indexOf("&") === -1) return str
  const chunks: Array<string> = []
  const len = str.length
  let last = 0
  let i = 0
  while (i < len) {
    if (str.charCodeAt(i) !== 38) {
      i++
      continue
    }
    let j = i + 1
    while (j < len && str.charCodeAt(j) !== 59 && j - i <= 32) j++
    if (j >= len || str.charCodeAt(j) !== 59) {
      i++
      continue
    }
    const token = str.slice(i + 1, j)
    if (token.length === 0) {
      i++
      continue
    }
    let replacement: string | undefined
    if (token.charCodeAt(0) === 35) {
      const second = token.charCodeAt(1)
      const cp = second === 120 || second === 88 ? parseInt(token.slice(2), 16) : parseInt(token.slice(1), 10)
      const forbidden =
        !Number.isNaN(cp) &&
        cp >= 0 &&
        cp <= 0x10ffff &&
        (cp === 0 || (cp >= 0xd800 && cp <= 0xdfff) || (!xml11 && cp >= 0x01 && cp <= 0x1f && cp !== 0x09 && cp !== 0x0a && cp !== 0x0d))
      replacement = forbidden ? "" : undefined
    } else {
      replacement = XML_ENTITIES[token]
    }
    if (replacement === undefined) {
      i++
      continue
    }
    if (i > last) chunks.push(str.slice(last, i))
    chunks.push(replacement)
    last = j + 1
    i = last
  }
  if (last < len) chunks.push(str.slice(last))
  return chunks.length === 0 ? str : chunks.join("")
}

// ---------------------------------------------------------------- the reader

/** Thrown inside the reader when the text leaves the fast subset; never escapes it. */
const GIVE_UP: unique symbol = Symbol("xml-fast: not in the fast subset")

const giveUp = (): never => {
  throw GIVE_UP
}

/** fast-xml-parser refuses deeper nesting (maxNestedTags 100); stay well below. */
const MAX_DEPTH = 90

const isWs = (c: number) => c === 32 || c === 10 || c === 9 || c === 13
const isNameStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58
const isNameChar = (c: number) => isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46
const isWordChar = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95
const isDigit = (c: number) => c >= 48 && c <= 57
const isHexDigit = (c: number) => isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)

/** Names fast-xml-parser refuses as tag names (prototype pollution guard). */
const CRITICAL = new Set(["__proto__", "constructor", "prototype"])

interface Attr {
  readonly name: string
  readonly value: string
}

const NO_ATTRS: Array<Attr> = []

class Reader {
  pos = 0
  /** The next '&' at or after the last text checked (s.length when none). */
  private nextAmp = -1
  xml11 = false
  // the open tag just read
  private nameStart = 0
  private nameEnd = 0
  private selfClosing = false
  private attrCount = 0
  private attrs: Array<Attr> = NO_ATTRS
  private readonly attrNames: Array<number> = []

  constructor(private readonly s: string) {}

  /** Normalised as fast-xml-parser does: CR LF and CR → LF, trimmed, entities decoded. */
  cook(raw: string): string {
    let v = raw.indexOf("\r") === -1 ? raw : raw.replace(/\r\n?/g, "\n")
    v = v.trim()
    return v.length > 0 ? decodeEntities(v, this.xml11) : v
  }

  /** The `&`s of text in [a, b) as XMLValidator accepts them: &name; (1–20 word characters), &#digits;, &#xhex;. */
  private checkAmps(a: number, b: number) {
    const s = this.s
    let k = this.nextAmp
    if (k < a) {
      k = s.indexOf("&", a)
      if (k < 0) k = s.length
    }
    while (k < b) {
      let j = k + 1
      if (s.charCodeAt(j) === 35) {
        j++
        const hex = s.charCodeAt(j) === 120
        if (hex) j++
        while (j < b && (hex ? isHexDigit(s.charCodeAt(j)) : isDigit(s.charCodeAt(j)))) j++
      } else {
        let count = 0
        while (j < b && count < 20 && isWordChar(s.charCodeAt(j))) {
          j++
          count++
        }
        if (count === 0) giveUp()
      }
      if (j >= b || s.charCodeAt(j) !== 59) giveUp()
      k = s.indexOf("&", j + 1)
      if (k < 0) k = s.length
    }
    this.nextAmp = k
  }

  private allWs(a: number, b: number): boolean {
    const s = this.s
    for (let i = a; i < b; i++) if (!isWs(s.charCodeAt(i))) return false
    return true
  }

  private skipWs(p: number): number {
    const s = this.s
    while (p < s.length && isWs(s.charCodeAt(p))) p++
    return p
  }

  /** A name at p: its end. */
  private name(p: number): number {
    const s = this.s
    if (!isNameStart(s.charCodeAt(p))) giveUp()
    p++
    while (isNameChar(s.charCodeAt(p))) p++
    return p
  }

  private checkCritical(a: number, b: number) {
    const len = b - a
    if ((len === 9 || len === 11) && CRITICAL.has(this.s.slice(a, b))) giveUp()
  }

  /** The open tag at this.pos ('<'): name, attributes, self-closing; pos moves past '>'. */
  private openTag(keepAttrs: boolean) {
    const s = this.s
    const a = this.pos + 1
    const b = this.name(a)
    this.checkCritical(a, b)
    this.nameStart = a
    this.nameEnd = b
    this.attrCount = 0
    this.attrs = NO_ATTRS
    let p = b
    for (;;) {
      const c = s.charCodeAt(p)
      if (c === 62) {
        this.selfClosing = false
        this.pos = p + 1
        return
      }
      if (c === 47) {
        if (s.charCodeAt(p + 1) !== 62) giveUp()
        this.selfClosing = true
        this.pos = p + 2
        return
      }
      if (!isWs(c)) giveUp()
      p = this.skipWs(p)
      const c2 = s.charCodeAt(p)
      if (c2 === 62 || c2 === 47) continue
      // an attribute: name = "value"
      const na = p
      const nb = this.name(p)
      p = this.skipWs(nb)
      if (s.charCodeAt(p) !== 61) giveUp()
      p = this.skipWs(p + 1)
      const q = s.charCodeAt(p)
      if (q !== 34 && q !== 39) giveUp()
      const end = s.indexOf(q === 34 ? '"' : "'", p + 1)
      if (end < 0) giveUp()
      // XMLValidator refuses a repeated attribute
      const names = this.attrNames
      for (let i = 0; i < this.attrCount; i++) {
        const oa = names[2 * i]
        const ob = names[2 * i + 1]
        if (ob - oa === nb - na && s.startsWith(s.slice(na, nb), oa)) giveUp()
      }
      names[2 * this.attrCount] = na
      names[2 * this.attrCount + 1] = nb
      this.attrCount++
      if (keepAttrs) {
        if (this.attrs === NO_ATTRS) this.attrs = []
        this.attrs.push({ name: s.slice(na, nb), value: s.slice(p + 1, end) })
      }
      p = end + 1
      const after = s.charCodeAt(p)
      if (!(isWs(after) || after === 62 || after === 47)) giveUp()
    }
  }

  /** The close tag at this.pos must close the element named s[a, b). */
  private closeTag(a: number, b: number) {
    const s = this.s
    const p = this.pos + 2
    const e = this.name(p)
    if (e - p !== b - a) giveUp()
    for (let i = 0; i < e - p; i++) if (s.charCodeAt(p + i) !== s.charCodeAt(a + i)) giveUp()
    const q = this.skipWs(e)
    if (s.charCodeAt(q) !== 62) giveUp()
    this.pos = q + 1
  }

  /** The next '<' from pos, with the text before it checked. */
  private nextTag(): number {
    const lt = this.s.indexOf("<", this.pos)
    if (lt < 0) giveUp()
    if (lt > this.pos) this.checkAmps(this.pos, lt)
    return lt
  }

  /** Skips the content and close tag of an element that is not read (it is checked all the same). */
  private skip(depth: number) {
    const s = this.s
    const stack: Array<number> = [this.nameStart, this.nameEnd]
    while (stack.length > 0) {
      const lt = this.nextTag()
      this.pos = lt
      const c1 = s.charCodeAt(lt + 1)
      if (c1 === 47) {
        const b = stack.pop()!
        const a = stack.pop()!
        this.closeTag(a, b)
      } else if (c1 === 33 || c1 === 63) {
        giveUp()
      } else {
        this.openTag(false)
        if (!this.selfClosing) {
          if (depth + stack.length / 2 > MAX_DEPTH) giveUp()
          stack.push(this.nameStart, this.nameEnd)
        }
      }
    }
  }

  /** The text content of a leaf element up to its close tag. */
  private leafText(a: number, b: number): string {
    const lt = this.nextTag()
    if (this.s.charCodeAt(lt + 1) !== 47) giveUp()
    const raw = this.s.slice(this.pos, lt)
    this.pos = lt
    this.closeTag(a, b)
    return this.cook(raw)
  }

  /** The element whose open tag was just read, as `shape` says. */
  value(shape: Shape, depth: number): unknown {
    const a = this.nameStart
    const b = this.nameEnd
    if (shape.kind === "text") {
      if (this.attrCount > 0) giveUp()
      const v = this.selfClosing ? "" : this.leafText(a, b)
      if (shape.nonEmpty && v.trim() === "") giveUp()
      return v
    }
    if (shape.kind === "named") {
      if (this.attrCount === 0) giveUp()
      const out: Record<string, string> = {}
      for (const at of this.attrs) if (at.name === "name") out["@_name"] = this.cook(at.value)
      if (!this.selfClosing) {
        const t = this.leafText(a, b)
        if (t !== "") out["#text"] = t
      }
      return out
    }
    return this.element(shape, a, b, depth)
  }

  private element(shape: ElementShape, a: number, b: number, depth: number): Record<string, unknown> {
    const s = this.s
    const out: Record<string, unknown> = {}
    if (this.attrCount > 0) {
      for (const at of this.attrs) if (shape.attrs.includes(at.name)) out[`@_${at.name}`] = this.cook(at.value)
    }
    let empty = this.attrCount === 0
    if (!this.selfClosing) {
      for (;;) {
        const lt = this.nextTag()
        if (lt > this.pos && !this.allWs(this.pos, lt)) giveUp()
        this.pos = lt
        const c1 = s.charCodeAt(lt + 1)
        if (c1 === 47) {
          this.closeTag(a, b)
          break
        }
        if (c1 === 33 || c1 === 63) giveUp()
        empty = false
        this.openTag(true)
        const key = s.slice(this.nameStart, this.nameEnd)
        const child = shape.children[key]
        if (child === undefined) {
          if (!this.selfClosing) {
            if (depth + 1 > MAX_DEPTH) giveUp()
            this.skip(depth + 1)
          }
          continue
        }
        const v = this.value(child.shape, depth + 1)
        if (child.many) {
          const list = out[key] as Array<unknown> | undefined
          if (list === undefined) out[key] = [v]
          else list.push(v)
        } else {
          if (Object.hasOwn(out, key)) giveUp()
          out[key] = v
        }
      }
    }
    if (empty && !shape.emptyOk) giveUp()
    for (const [name, c] of Object.entries(shape.children)) {
      if (Object.hasOwn(out, name)) continue
      if (c.required) giveUp()
      if (c.many) out[name] = []
    }
    return out
  }

  /** `<?xml ...?>` at the very start (XMLValidator allows it nowhere else). */
  declaration() {
    const m = /^<\?xml((?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*\s*=\s*(?:"[^"?<>]*"|'[^'?<>]*'))*)\s*\?>/.exec(this.s)
    if (m === null) giveUp()
    let version: string | undefined
    for (const v of m![1].matchAll(/\s([A-Za-z_:][A-Za-z0-9_.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      if (v[1] === "version") version = v[2] ?? v[3]
    }
    this.xml11 = version !== undefined && Number(this.cook(version)) === 1.1
    this.pos = m![0].length
  }

  document(doc: RootShape): Record<string, unknown> {
    const s = this.s
    if (s.startsWith("<?xml")) this.declaration()
    this.pos = this.skipWs(this.pos)
    if (s.charCodeAt(this.pos) !== 60) giveUp()
    const c1 = s.charCodeAt(this.pos + 1)
    if (c1 === 33 || c1 === 63) giveUp()
    this.openTag(true)
    if (s.slice(this.nameStart, this.nameEnd) !== doc.root) giveUp()
    const v = this.value(doc.shape, 1)
    if (this.skipWs(this.pos) !== s.length) giveUp()
    return { [doc.root]: v }
  }
}

/**
 * The document read as `doc` describes, shaped as the parser's Schema would
 * decode it (the elements and attributes named in the shape, repeated ones as
 * arrays, absent repeated ones as []); undefined when the fast subset does not
 * cover the text: then only the full reader can say what it holds.
 */
export const readXmlFast = (text: string, doc: RootShape): Record<string, unknown> | undefined => {
  try {
    return new Reader(text).document(doc)
  } catch (e) {
    if (e === GIVE_UP) return undefined
    throw e
  }
}
