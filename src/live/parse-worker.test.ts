/**
 * The parse worker (#19) gives exactly what the inline parser gives: the same
 * jobs for real captures and for generated outputs, the same errors (as
 * ParseErrors naming what was wrong) for garbage. inlineMaxChars 0 forces the
 * worker whatever the size.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect, Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ParseError } from "./parsing.ts"
import { jobParsers, parseInWorker, parseJobs, workerHandler, type JobParser, type WorkerReply } from "./parse-worker.ts"
import { sharedFixtures } from "./testing/parsers.ts"

const { have: haveFixtures, read: fixture } = sharedFixtures("parse worker")

const inline = (parser: JobParser, text: string) => (jobParsers[parser] as (t: string) => Either.Either<unknown, ParseError>)(text)
const viaWorker = (parser: JobParser, text: string) => Effect.runPromise(Effect.either(parseJobs(parser, text, 0)))
/** Tiny slices and batches: the text crosses in many messages, the jobs come back in many. */
const inSlices = (parser: JobParser, text: string) => Effect.runPromise(Effect.either(parseJobs(parser, text, 0, { chunkChars: 97, replyJobs: 2 })))

const captures: ReadonlyArray<readonly [JobParser, string]> = [
  ["sge qstat -xml", "sge/qstat_xml_f_starcluster_192jobs.xml"],
  ["sge qstat -xml", "sge/qstat_r_xml_ood_core.xml"],
  ["torque qstat -x", "torque/qstat_x_fyrd_stanford.xml"],
  ["slurm squeue --json", "slurm/squeue_json_slurm-21.08.5.json"]
]

describe.skipIf(!haveFixtures)("the parse worker on real captures", () => {
  for (const [parser, name] of captures) {
    it(`${parser} on ${name}: the same jobs as inline`, async () => {
      const text = fixture(name)
      const expected = inline(parser, text)
      expect(Either.isRight(expected)).toBe(true)
      expect(await viaWorker(parser, text)).toEqual(expected)
      expect(await inSlices(parser, text)).toEqual(expected)
    })
  }
})

describe("the parse worker", () => {
  it("garbage: the parser's own error, as a ParseError", async () => {
    for (const parser of Object.keys(jobParsers) as Array<JobParser>) {
      const r = await viaWorker(parser, "qstat: cannot connect to server")
      const expected = inline(parser, "qstat: cannot connect to server")
      expect(Either.isLeft(r)).toBe(true)
      if (Either.isLeft(r) && Either.isLeft(expected)) {
        expect(r.left).toBeInstanceOf(ParseError)
        expect(r.left.source).toBe(expected.left.source)
        expect(r.left.message).toBe(expected.left.message)
      }
    }
  })

  it("any text: the worker and the inline parser agree (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...(Object.keys(jobParsers) as Array<JobParser>)), fc.string({ maxLength: 200 }), async (parser, text) => {
        const w = await viaWorker(parser, text)
        const i = inline(parser, text)
        expect(Either.isRight(w)).toBe(Either.isRight(i))
        if (Either.isRight(w) && Either.isRight(i)) expect(w.right).toEqual(i.right)
        if (Either.isLeft(w) && Either.isLeft(i)) expect(w.left.message).toBe(i.left.message)
      }),
      { numRuns: 30 }
    )
  })

  it("text handed over in slices: a slice boundary never spoils a character, errors come through whole", async () => {
    // 96 ASCII characters, then a character outside the BMP (a surrogate pair) across the 97-character boundary
    const name = "x".repeat(96 - "<Data><Job><Job_Id>1</Job_Id><job_state>Q</job_state><Job_Name>".length) + "\u{1F600}é"
    const xml = `<Data><Job><Job_Id>1</Job_Id><job_state>Q</job_state><Job_Name>${name}</Job_Name></Job>${"<Job><Job_Id>2</Job_Id><job_state>R</job_state></Job>".repeat(5)}</Data>`
    expect(xml.charCodeAt(96)).toBe(0xd83d)
    const r = await inSlices("torque qstat -x", xml)
    expect(r).toEqual(inline("torque qstat -x", xml))
    expect(Either.isRight(r) && r.right.map((j) => j.name)).toEqual([name, null, null, null, null, null])
    const bad = xml.replace("<Job_Id>2</Job_Id>", "")
    expect(await inSlices("torque qstat -x", bad)).toEqual(inline("torque qstat -x", bad))
    expect(Either.isLeft(inline("torque qstat -x", bad))).toBe(true)
  })

  it("several parses at once each get their own answer", async () => {
    const xml = (id: number) =>
      `<Data><Job><Job_Id>${id}.server</Job_Id><job_state>Q</job_state><queue>batch</queue><Resource_List><nodes>1:ppn=2</nodes></Resource_List></Job></Data>`
    const rs = await Effect.runPromise(Effect.all([1, 2, 3].map((id) => parseInWorker("torque qstat -x", xml(id))), { concurrency: "unbounded" }))
    expect(rs.map((r) => r.map((j) => j.id))).toEqual([["1.server"], ["2.server"], ["3.server"]])
    // and when their slices interleave
    const sliced = await Effect.runPromise(
      Effect.all([1, 2, 3].map((id) => parseInWorker("torque qstat -x", xml(id).repeat(1).replace("</Data>", `${xml(id + 10).slice(6, -7)}</Data>`), { chunkChars: 13, replyJobs: 1 })), { concurrency: "unbounded" })
    )
    expect(sliced.map((r) => r.map((j) => j.id))).toEqual([["1.server", "11.server"], ["2.server", "12.server"], ["3.server", "13.server"]])
  })

  it("small outputs are parsed inline (no worker, no thread timing)", async () => {
    // a non-string never reaches the worker: the parser's own refusal, synchronously
    const r = Effect.runSync(Effect.either(parseJobs("sge qstat -xml", 42 as unknown as string)))
    expect(Either.isLeft(r) && r.left.message).toMatch(/expected text/)
  })
})

describe("the parse worker's replies", () => {
  const xml = `<Data>${[1, 2, 3, 4, 5].map((id) => `<Job><Job_Id>${id}.server</Job_Id><job_state>Q</job_state></Job>`).join("")}</Data>`
  const ids = (rs: ReadonlyArray<WorkerReply>) => rs.map((r) => (r.ok ? (r.part as Array<{ id: string }>).map((j) => j.id) : r.message))

  it("one batch at once, each further batch only when asked for (never all queued in one turn of the main thread)", () => {
    const posted: Array<WorkerReply> = []
    const handle = workerHandler((r) => posted.push(r))
    handle({ id: 7, parser: "torque qstat -x", chunk: xml.slice(0, 40), last: false, replyJobs: 2 })
    handle({ id: 7, parser: "torque qstat -x", chunk: xml.slice(40), last: true, replyJobs: 2 })
    expect(ids(posted)).toEqual([["1.server", "2.server"]])
    handle({ id: 7, more: true })
    expect(ids(posted)).toEqual([["1.server", "2.server"], ["3.server", "4.server"]])
    handle({ id: 7, more: true })
    expect(ids(posted)).toEqual([["1.server", "2.server"], ["3.server", "4.server"], ["5.server"]])
    expect(posted.map((r) => r.ok && r.done)).toEqual([false, false, true])
    handle({ id: 7, more: true }) // nothing left: nothing posted
    expect(posted).toHaveLength(3)
  })

  it("a cancelled parse's remaining batches are dropped", () => {
    const posted: Array<WorkerReply> = []
    const handle = workerHandler((r) => posted.push(r))
    handle({ id: 1, parser: "torque qstat -x", chunk: xml, last: true, replyJobs: 2 })
    handle({ id: 1, cancel: true })
    handle({ id: 1, more: true })
    expect(posted).toHaveLength(1)
  })
})

describe("the parse worker's thread", () => {
  it("does not keep a process alive once its parses are done", () => {
    const url = new URL("./parse-worker.ts", import.meta.url).href
    const script = `import { Effect, Either } from "effect"
      import { parseJobs } from ${JSON.stringify(url)}
      const r = await Effect.runPromise(Effect.either(parseJobs("torque qstat -x", "<Data></Data>", 0)))
      console.log(Either.isRight(r) ? "parsed" : "failed: " + r.left.message)`
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: fileURLToPath(new URL("../..", import.meta.url)), encoding: "utf8", timeout: 60_000 })
    expect(r.stdout.trim()).toBe("parsed")
    expect(r.signal).toBe(null) // not killed by the timeout
    expect(r.status).toBe(0)
  }, 90_000)
})
