import { Either } from "effect"
import fc from "fast-check"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { compareJobs, parseSwf, readSwf, type SwfError, type SwfOptions, type SwfWorkload } from "./swf.ts"

const TRACES = fileURLToPath(new URL("../../../shared/traces/", import.meta.url))
const haveTraces = existsSync(join(TRACES, "SOURCES.md"))
if (!haveTraces) console.warn(`swf.test: ${TRACES} not found, the real-trace tests are skipped`)

const load = (file: string, options: SwfOptions = {}): SwfWorkload => {
  const r = readSwf({ path: join(TRACES, file) }, options)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}
const failure = (r: Either.Either<SwfWorkload, SwfError>): SwfError => {
  if (Either.isRight(r)) throw new Error("expected an SwfError")
  return r.left
}

/** Job counts and largest processor counts, as SOURCES.md tables them. */
const sourcesTable = (): Map<string, { jobs: number; maxProcs: number }> => {
  const rows = new Map<string, { jobs: number; maxProcs: number }>()
  for (const line of readFileSync(join(TRACES, "SOURCES.md"), "utf8").split("\n")) {
    const cells = line.split("|").map((c) => c.trim())
    const file = /^`([^`]+)`/.exec(cells[1] ?? "")
    if (file === null || cells.length < 9) continue
    rows.set(file[1], { jobs: Number(cells[5].replace(/,/g, "")), maxProcs: Number(cells[7].split(" ")[0]) })
  }
  return rows
}

/**
 * Jobs skipped with the default mapping: no processor count (allocated <= 0
 * and requested <= 0). SOURCES.md: KTH 1 and LANL 3 jobs with allocated <= 0;
 * Atlas 4,588 with allocated = -1, 17 of which have a requested count.
 */
const EXPECTED_SKIPPED: Record<string, number> = {
  "KTH-SP2-1996-2.1-cln.swf.gz": 1,
  "LANL-CM5-1994-4.1-cln.swf.gz": 3,
  "LLNL-Atlas-2006-2.1-cln.swf.gz": 4571,
  "NASA-iPSC-1993-3.1-cln.swf.gz": 0,
  "lublin_256.swf": 0
}

const isSorted = (w: SwfWorkload) => w.jobs.every((j, i) => i === 0 || compareJobs(w.jobs[i - 1], j) <= 0)

describe.skipIf(!haveTraces)("real traces", () => {
  const table = haveTraces ? sourcesTable() : new Map()

  it("SOURCES.md lists every trace of the folder", () => {
    expect([...table.keys()].sort()).toEqual(Object.keys(EXPECTED_SKIPPED).sort())
  })

  for (const file of Object.keys(EXPECTED_SKIPPED)) {
    it(`loads ${file}`, () => {
      const t0 = performance.now()
      const w = load(file)
      const ms = performance.now() - t0
      console.log(`${file}: ${w.jobs.length} jobs, ${w.skipped} skipped, ${ms.toFixed(0)} ms`)
      const row = table.get(file)!
      expect(w.lines).toBe(row.jobs)
      expect(w.skipped).toBe(EXPECTED_SKIPPED[file])
      expect(w.skippedBy.processors).toBe(EXPECTED_SKIPPED[file])
      expect(w.jobs.length).toBe(row.jobs - EXPECTED_SKIPPED[file])
      expect(w.outsideWindow).toBe(0)
      expect(w.jobs.reduce((m, j) => Math.max(m, j.cores), 0)).toBe(row.maxProcs)
      expect(isSorted(w)).toBe(true)
      expect(new Set(w.jobs.map((j) => j.id)).size).toBe(w.jobs.length)
      const odd = w.jobs.filter((j) => !(j.submit >= 0 && j.runtime >= 0 && j.cores >= 1 && j.cpn === 1))
      expect(odd).toEqual([])
      expect(w.source).toContain(file)
      // generous: the brief is "well under a second" on an idle machine
      expect(ms).toBeLessThan(5000)
    })
  }

  it("maps LANL's fields: walltime, header queue names, accounts, cores per node", () => {
    const w = load("LANL-CM5-1994-4.1-cln.swf.gz", {
      queueNames: "header",
      account: "user{user}",
      property: "app{app}",
      coresPerNode: 32
    })
    // "2  465  5  3362  32 489.00  988  32  900  1024  1  3  3  3  1 -1 -1 -1"
    const j2 = w.jobs.find((j) => j.id === "2")!
    expect(j2).toEqual({
      id: "2",
      submit: 465,
      cores: 32,
      cpn: 32,
      runtime: 3362,
      walltime: 900,
      queue: "development",
      account: "user3",
      property: "app3",
      priority: 0
    })
    // "1  0  0  3691  128 ... 3600 ... 1  2  2  2 -1" : queue unknown, 128 cores on 32-core nodes
    expect(w.jobs[0]).toMatchObject({ id: "1", cores: 128, cpn: 32, queue: "default", walltime: 3600 })
    const names = new Set(w.jobs.map((j) => j.queue))
    expect(names.has("production")).toBe(true)
    expect([...names].some((q) => q !== null && /^q\d+$/.test(q))).toBe(false)
  })

  it("maps queue numbers as q<N>, explicit names and a null default queue", () => {
    const plain = load("LANL-CM5-1994-4.1-cln.swf.gz", { defaultQueue: null, queueNames: { "1": "dev" } })
    expect(plain.jobs[0].queue).toBeNull()
    expect(plain.jobs.find((j) => j.id === "2")!.queue).toBe("dev")
    expect(plain.jobs.find((j) => j.id === "3")!.queue).toBe("q4")
    const atlas = load("LLNL-Atlas-2006-2.1-cln.swf.gz", { queueField: "partition", queueNames: "header" })
    expect(new Set(atlas.jobs.map((j) => j.queue))).toEqual(new Set(["pbatch", "pdebug", "pbroke", "moody20"]))
  })

  it("cuts a time window and rebases it to 0", () => {
    const full = load("LANL-CM5-1994-4.1-cln.swf.gz")
    const start = 30 * 86400, duration = 7 * 86400
    const w = load("LANL-CM5-1994-4.1-cln.swf.gz", { start, duration })
    const expected = full.jobs.filter((j) => j.submit >= start && j.submit < start + duration)
    expect(expected.length).toBeGreaterThan(100)
    expect(w.jobs.length).toBe(expected.length)
    expect(w.jobs.map((j) => j.id)).toEqual(expected.map((j) => j.id))
    expect(w.jobs.map((j) => j.submit)).toEqual(expected.map((j) => j.submit - start))
    expect(w.jobs[0].submit).toBeGreaterThanOrEqual(0)
    expect(w.jobs[w.jobs.length - 1].submit).toBeLessThan(duration)
    expect(w.outsideWindow + w.jobs.length + w.skipped).toBe(w.lines)
  })

  it("scales time: submit offsets, runtimes and walltimes are divided by the factor", () => {
    const start = 86400, duration = 2 * 86400
    const base = load("KTH-SP2-1996-2.1-cln.swf.gz", { start, duration })
    const fast = load("KTH-SP2-1996-2.1-cln.swf.gz", { start, duration, timeScale: 10 })
    expect(fast.jobs.length).toBe(base.jobs.length)
    fast.jobs.forEach((j, i) => {
      const b = base.jobs[i]
      expect(j.id).toBe(b.id)
      expect(j.submit).toBeCloseTo(b.submit / 10, 9)
      expect(j.runtime).toBeCloseTo(b.runtime / 10, 9)
      expect(j.walltime).toBeCloseTo(b.walltime! / 10, 9)
    })
    expect(fast.jobs[fast.jobs.length - 1].submit).toBeLessThan(duration / 10)
  })

  it("skips and counts jobs larger than maxCores; cores per processor scales sizes", () => {
    const w = load("NASA-iPSC-1993-3.1-cln.swf.gz", { maxCores: 64 })
    const big = load("NASA-iPSC-1993-3.1-cln.swf.gz").jobs.filter((j) => j.cores > 64).length
    expect(big).toBeGreaterThan(0)
    expect(w.skippedBy.tooLarge).toBe(big)
    expect(w.skipped).toBe(big)
    const x4 = load("NASA-iPSC-1993-3.1-cln.swf.gz", { coresPerProcessor: 4, coresPerNode: 0 })
    expect(x4.jobs[0]).toMatchObject({ cores: 512, cpn: 0 })
  })

  it("reads the same trace gzipped from memory", () => {
    const raw = readFileSync(join(TRACES, "lublin_256.swf"))
    const gz = readSwf({ text: gzipSync(raw), name: "lublin_256.swf.gz" })
    const plain = load("lublin_256.swf")
    expect(Either.getOrThrow(gz).jobs).toEqual(plain.jobs)
  })
})

// ---------------------------------------------------------------- small inputs

const HEADER = "; Version: 2\n; Queue: 1 batch\n; UnixStartTime: 1000\n\n"
const row = (id: number, submit: number, run: number, procs: number, extra = "") =>
  `${id} ${submit} -1 ${run} ${procs} -1 -1 ${procs} 3600 -1 1 7 8 -1 1 -1 -1 -1${extra}`

describe("parseSwf", () => {
  it("reads header names, skips comments and blank lines", () => {
    const text = HEADER + [row(1, 100, 50, 4), "", "   ; a late comment", row(2, 160, 10, 2)].join("\r\n") + "\n"
    const w = Either.getOrThrow(parseSwf(text, { queueNames: "header" }))
    expect(w.jobs.map((j) => [j.id, j.submit, j.queue])).toEqual([["1", 0, "batch"], ["2", 60, "batch"]])
    expect(w.unixStartTime).toBe(1000)
    expect(w.firstSubmit).toBe(100)
  })

  it("names the line (and the file) of a corrupt line", () => {
    const short = HEADER + row(1, 100, 50, 4) + "\n" + row(2, 110, 50, 4).replace(/ -1$/, "") + "\n"
    const e = failure(parseSwf(short, {}, "mini.swf"))
    expect(e._tag).toBe("SwfError")
    expect(e.line).toBe(6)
    expect(e.file).toBe("mini.swf")
    expect(e.message).toContain("mini.swf:6")
    expect(e.message).toContain("found 17")

    const long = HEADER + row(1, 100, 50, 4, " 5") + "\n"
    expect(failure(parseSwf(long)).line).toBe(5)

    const word = HEADER + row(1, 100, 50, 4) + "\n" + row(2, 110, 50, 4) + "\n" + row(3, 120, 50, 4).replace(" 3600 ", " 1h ")
    const e3 = failure(parseSwf(word))
    expect(e3.line).toBe(7)
    expect(e3.message).toContain("field 9")
    expect(e3.message).toContain('"1h"')

    for (const bad of ["0x10", "1e", "--1", "NaN", "Infinity", "1.2.3"]) {
      expect(failure(parseSwf(row(1, 100, 50, 4).replace(" 3600 ", ` ${bad} `))).line).toBe(1)
    }
  })

  it("names the line of a corrupt line in a gzipped file on disk", () => {
    const dir = mkdtempSync(join(tmpdir(), "swf-test-"))
    try {
    const path = join(dir, "broken.swf.gz")
    writeFileSync(path, gzipSync(HEADER + row(1, 1, 1, 1) + "\n" + "2 5 -1 7 x -1 -1 1 -1 -1 1 1 1 -1 1 -1 -1 -1\n"))
    const e = failure(readSwf({ path }))
    expect(e.line).toBe(6)
    expect(e.file).toBe(path)
    expect(failure(readSwf({ path: join(dir, "missing.swf") })).line).toBeNull()
    writeFileSync(join(dir, "bad.swf.gz"), "not gzip at all")
    expect(failure(readSwf({ path: join(dir, "bad.swf.gz") })).message).toContain("decompress")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("skips and counts missing runtimes and processor counts", () => {
    const text = [
      row(1, 0, 10, 1),
      row(2, 5, -1, 4),
      "3 6 -1 30 -1 -1 -1 -1 -1 -1 1 1 1 -1 -1 -1 -1 -1",
      "4 7 -1 30 -1 -1 -1 16 -1 -1 1 1 1 -1 -1 -1 -1 -1"
    ].join("\n")
    const w = Either.getOrThrow(parseSwf(text, { coresPerNode: 8 }))
    expect(w.jobs.map((j) => j.id)).toEqual(["1", "4"])
    expect(w.jobs[1]).toMatchObject({ cores: 16, cpn: 8, walltime: null, queue: "default" })
    expect(w.skippedBy).toEqual({ runtime: 1, processors: 1, tooLarge: 0 })
    expect(w.skipped).toBe(2)
  })

  it("sorts out-of-order submits, ties by id", () => {
    const text = [row(10, 50, 1, 1), row(9, 50, 1, 1), row(2, 20, 1, 1)].join("\n")
    expect(Either.getOrThrow(parseSwf(text)).jobs.map((j) => j.id)).toEqual(["2", "9", "10"])
  })

  it("refuses bad options and templates", () => {
    expect(failure(parseSwf("", { timeScale: 0 })).message).toContain("timeScale")
    expect(failure(parseSwf("", { account: "{uid}" })).message).toContain("{uid}")
    expect(Either.getOrThrow(parseSwf("")).jobs).toEqual([])
  })

  it("account templates give null for unknown fields", () => {
    const text = "1 0 -1 5 1 -1 -1 1 -1 -1 1 -1 4 -1 -1 -1 -1 -1\n2 1 -1 5 1 -1 -1 1 -1 -1 1 3 4 -1 -1 -1 -1 -1"
    const w = Either.getOrThrow(parseSwf(text, { account: "u{user}-g{group}", property: "fast" }))
    expect(w.jobs.map((j) => [j.account, j.property])).toEqual([[null, "fast"], ["u3-g4", "fast"]])
  })

  it("reads back what it is given, whatever the spacing (property)", () => {
    const job = fc.record({
      submit: fc.integer({ min: 0, max: 10_000_000 }),
      run: fc.integer({ min: 0, max: 1_000_000 }),
      procs: fc.integer({ min: 1, max: 4096 }),
      req: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 1_000_000 })),
      cpu: fc.double({ min: 0, max: 1e6, noNaN: true }).map((x) => Math.round(x * 100) / 100)
    })
    const space = fc.constantFrom(" ", "  ", "\t", "   \t ")
    fc.assert(
      fc.property(fc.array(fc.tuple(job, space), { maxLength: 40 }), (jobs) => {
        const text = jobs
          .map(([j, s], i) =>
            [i + 1, j.submit, -1, j.run, j.procs, j.cpu.toFixed(2), -1, j.procs, j.req, -1, 1, 1, 1, -1, 1, -1, -1, -1].join(s)
          )
          .join("\n")
        const w = Either.getOrThrow(parseSwf(text))
        expect(w.jobs.length).toBe(jobs.length)
        const first = Math.min(...jobs.map(([j]) => j.submit))
        for (const out of w.jobs) {
          const [j] = jobs[Number(out.id) - 1]
          expect(out).toMatchObject({
            submit: j.submit - first,
            runtime: j.run,
            cores: j.procs,
            walltime: j.req > 0 ? j.req : null
          })
        }
        expect(w.jobs.every((j, i) => i === 0 || compareJobs(w.jobs[i - 1], j) <= 0)).toBe(true)
      })
    )
  })
})
