/**
 * What the batch-system parser tests (src/live/{torque,sge,slurm}/parse.test.ts)
 * share: the real captures beside the repository, Either helpers, and the
 * totality check (a parser answers Right or Left for any input, never throws).
 */
import { Either } from "effect"
import fc from "fast-check"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { expect } from "vitest"

/**
 * The shared real captures (`../shared/fixtures/<sub>`), never copied into
 * the project; `have` is false (with a visible warning naming `label`) when
 * they are absent, for describe.skipIf.
 */
export const sharedFixtures = (label: string, sub = "") => {
  const url = new URL(`../../../../shared/fixtures/${sub}`, import.meta.url)
  const dir = fileURLToPath(url)
  const have = existsSync(dir)
  if (!have) console.warn(`[${label}] skipping the real-capture tests: ${dir} is missing`)
  return { have, dir, read: (name: string) => readFileSync(new URL(name, url), "utf8") }
}

export const right = <A, E>(e: Either.Either<A, E>): A => Either.getOrThrowWith(e, (err) => new Error(`expected Right, got ${JSON.stringify(err)}`))

export const leftMessage = <A, E extends { message: string }>(e: Either.Either<A, E>): string =>
  Either.match(e, { onLeft: (l) => l.message, onRight: () => "(Right)" })

/** `text` with the bytes at the (wrapped) positions replaced. */
export const mutate = (text: string, edits: ReadonlyArray<readonly [number, number]>) => {
  const bytes = Buffer.from(text, "utf8")
  for (const [pos, byte] of edits) if (bytes.length > 0) bytes[pos % bytes.length] = byte
  return bytes.toString("utf8")
}

/**
 * `parse` is total: random text, and every sample cut short, with bytes
 * changed, and with one of `junk` (the format's own syntax) inserted.
 * `runs`: property runs per sample for the cut and changed variants.
 */
export const expectTotal = (
  parse: (s: string) => Either.Either<unknown, unknown>,
  samples: ReadonlyArray<string>,
  opts: { readonly junk: ReadonlyArray<string>; readonly runs?: number }
) => {
  const runs = opts.runs ?? 100
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 300 }), (s) => {
      expect(Either.isEither(parse(s))).toBe(true)
    }),
    { numRuns: 300 }
  )
  for (const text of samples) {
    fc.assert(
      fc.property(fc.nat({ max: text.length }), (n) => {
        expect(Either.isEither(parse(text.slice(0, n)))).toBe(true)
      }),
      { numRuns: runs }
    )
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }), (edits) => {
        expect(Either.isEither(parse(mutate(text, edits)))).toBe(true)
      }),
      { numRuns: runs }
    )
    fc.assert(
      fc.property(fc.nat({ max: text.length }), fc.constantFrom(...opts.junk), (at, junk) => {
        expect(Either.isEither(parse(text.slice(0, at) + junk + text.slice(at)))).toBe(true)
      }),
      { numRuns: 100 }
    )
  }
}
