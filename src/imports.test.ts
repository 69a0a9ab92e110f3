/**
 * The modules of src import each other without a cycle at run time (type
 * imports do not count: they are erased). A cycle makes the order in which
 * modules initialise matter, e.g. a registry entry that must be written as a
 * function because its module is not loaded yet (issue #16: the daemon's
 * registry, sim-cloud and sim-cluster).
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const SRC = dirname(fileURLToPath(import.meta.url))

const sources = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    if (statSync(p).isDirectory()) return sources(p)
    return p.endsWith(".ts") && !p.endsWith(".test.ts") ? [p] : []
  })

/** The relative modules `file` imports or re-exports at run time. */
const runtimeImports = (file: string, text: string): Array<string> => {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  const out: Array<string> = []
  for (const st of sf.statements) {
    let spec: ts.Expression | undefined
    if (ts.isImportDeclaration(st)) {
      const c = st.importClause
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined && c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)))
      if (!typeOnly) spec = st.moduleSpecifier
    } else if (ts.isExportDeclaration(st) && !st.isTypeOnly) spec = st.moduleSpecifier
    if (spec !== undefined && ts.isStringLiteral(spec) && spec.text.startsWith(".")) out.push(resolve(dirname(file), spec.text))
  }
  return out
}

/** The strongly connected components of more than one module (Tarjan). */
const cycles = (graph: ReadonlyMap<string, ReadonlyArray<string>>): Array<Array<string>> => {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const out: Array<Array<string>> = []
  const visit = (v: string) => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const c: Array<string> = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        c.push(w)
      } while (w !== v)
      if (c.length > 1) out.push(c.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return out
}

describe("imports", () => {
  it("no runtime import cycle among the modules of src", () => {
    const graph = new Map(sources(SRC).map((f) => [f, runtimeImports(f, readFileSync(f, "utf8"))]))
    expect(cycles(graph).map((c) => c.map((f) => relative(SRC, f)))).toEqual([])
  })

  it("the check sees a cycle, and ignores type-only imports", () => {
    const a = resolve(SRC, "a.ts")
    const b = resolve(SRC, "b.ts")
    expect(runtimeImports(a, 'import { x } from "./b.ts"\nimport type { Y } from "./c.ts"\nimport { type Z } from "./d.ts"\nexport { w } from "./e.ts"')).toEqual([
      b,
      resolve(SRC, "e.ts")
    ])
    expect(cycles(new Map([[a, [b]], [b, [a]]]))).toEqual([[a, b]])
    expect(cycles(new Map([[a, [b]], [b, []]]))).toEqual([])
  })
})
