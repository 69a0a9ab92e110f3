/**
 * The fast XML reader (xml-fast.ts) changes no parser's answer: on every
 * shared fixture, on generated job listings full of XML's corner cases, and
 * on cut, changed and spliced documents, Torque's and Grid Engine's
 * parseQstat give the same Right or the same Left (source and message) with
 * the fast reader as with the full one (fast-xml-parser and Schema only).
 * Each property also checks that the fast reader did answer often enough
 * for the comparison to mean something.
 */
import { readdirSync } from "node:fs"
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { sgeQstatXml, torqueQstatXml } from "../../bench/parse.ts"
import type { ParseError, Reader } from "./parsing.ts"
import { parseQstat as parseSge, QSTAT_DOC as SGE_DOC } from "./sge/parse.ts"
import { mutate, sharedFixtures } from "./testing/parsers.ts"
import { parseQstat as parseTorque, QSTAT_DOC as TORQUE_DOC } from "./torque/parse.ts"
import { decodeEntities, readXmlFast, type RootShape } from "./xml-fast.ts"

const { have: haveFixtures, dir, read } = sharedFixtures("xml-fast equivalence")

type Parse = (xml: string, reader: Reader) => Either.Either<unknown, ParseError>

const parsers: ReadonlyArray<readonly [string, Parse, RootShape]> = [
  ["torque qstat -x", parseTorque, TORQUE_DOC],
  ["sge qstat -xml", parseSge, SGE_DOC]
]

const outcome = (e: Either.Either<unknown, ParseError>) =>
  Either.match(e, { onLeft: (l) => ({ left: `${l.source}: ${l.message}` }), onRight: (v) => ({ right: v }) })

/** Both readers give the same answer; true when the fast reader answered by itself. */
const expectSame = (parse: Parse, doc: RootShape, xml: string): boolean => {
  expect(outcome(parse(xml, "fast"))).toEqual(outcome(parse(xml, "full")))
  return readXmlFast(xml, doc) !== undefined
}

describe.skipIf(!haveFixtures)("fast XML reader on the shared fixtures", () => {
  const files = haveFixtures ? readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => /\.(xml|json|txt)$/.test(f)) : []

  it.each(parsers)("%s: every fixture gives the same answer", (_name, parse, doc) => {
    for (const f of files) expectSame(parse, doc, read(f))
  })

  it("reads the job listings themselves fast (the comparison is not vacuous)", () => {
    expect(expectSame(parseTorque, TORQUE_DOC, read("torque/qstat_x_fyrd_stanford.xml"))).toBe(true)
    expect(expectSame(parseSge, SGE_DOC, read("sge/qstat_xml_f_starcluster_192jobs.xml"))).toBe(true)
    expect(expectSame(parseSge, SGE_DOC, read("sge/qstat_r_xml_ood_core.xml"))).toBe(true)
    // the bench's listings, 300 jobs each
    expect(expectSame(parseTorque, TORQUE_DOC, torqueQstatXml(read("torque/qstat_x_fyrd_stanford.xml"), 300))).toBe(true)
    expect(expectSame(parseSge, SGE_DOC, sgeQstatXml(read("sge/qstat_xml_f_starcluster_192jobs.xml"), 300))).toBe(true)
  })

  const JUNK = ["<", ">", "&", "&amp;", "&#0;", "&#;", "&x", ";", "'", '"', "=", "/", "\r", "\r\n", "\u00a0", "\ufeff", "<!-- c -->", "<![CDATA[x]]>", "<?pi x?>", "<a/>", "</Job>", "<Job>", "</job_list>", " x='1'", "<Job_Id>9</Job_Id>", "<JB_job_number>9</JB_job_number>"]
  const samples: ReadonlyArray<readonly [string, Parse, RootShape, string]> = haveFixtures
    ? [
        ["torque", parseTorque, TORQUE_DOC, read("torque/qstat_x_fyrd_stanford.xml")],
        ["sge -f", parseSge, SGE_DOC, read("sge/qstat_xml_f_starcluster_192jobs.xml").slice(0, 6000) + "</queue_info></job_info>"],
        ["sge", parseSge, SGE_DOC, read("sge/qstat_r_xml_ood_core.xml")]
      ]
    : []

  it.each(samples)("%s: cut, changed and spliced fixtures give the same answer", (_name, parse, doc, text) => {
    fc.assert(fc.property(fc.nat({ max: text.length }), (n) => void expectSame(parse, doc, text.slice(0, n))), { numRuns: 150 })
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.constantFrom(..."<>&;/='\"\r\n !?#x-_aZ0".split("").map((c) => c.charCodeAt(0)), 0, 200)), { minLength: 1, maxLength: 4 }), (edits) =>
        void expectSame(parse, doc, mutate(text, edits))
      ),
      { numRuns: 300 }
    )
    fc.assert(
      fc.property(fc.nat({ max: text.length }), fc.constantFrom(...JUNK), (at, junk) => void expectSame(parse, doc, text.slice(0, at) + junk + text.slice(at))),
      { numRuns: 300 }
    )
  })
})

// ---------------------------------------------------------------- generated listings

/** Values that exercise trimming, entities, line ends and Schema's checks. */
const value = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "  x  ",
    "a&amp;b",
    "&lt;tag&gt;",
    "&amp;lt;",
    "&#0;",
    "x&#12;y",
    "&#x1F;",
    "&#65;",
    "&#xD800;",
    "&#x110000;",
    "&unknown;",
    "&apos;&quot;",
    "x\r\ny",
    "x\ry",
    "\u00a0x\u00a0",
    "a>b",
    "1:ppn=2",
    "2:ppn=4:gpu+1:ppn=2",
    "0",
    "-1",
    "4",
    "3.5",
    "0.50000",
    "many",
    "qw",
    "hqw",
    "all.q@@cloud",
    "2018-12-21T11:47:00",
    "665199.host",
    "673175[19].host"
  ),
  fc.string({ maxLength: 8 }).map((s) => s.replace(/[<&]/g, ""))
)

/** One element as a batch system might (or might not) print it. */
const element = (name: string) =>
  fc.oneof(
    { weight: 40, arbitrary: value.map((v) => `<${name}>${v}</${name}>`) },
    { weight: 1, arbitrary: fc.constantFrom(`<${name}/>`, `<${name} />`, `<${name}></${name}>`, `<${name}>\n  </${name} >`) },
    { weight: 1, arbitrary: fc.tuple(value, fc.constantFrom("name", "qname", "type")).map(([v, a]) => `<${name} ${a}="${v}">${v}</${name}>`) },
    { weight: 1, arbitrary: value.map((v) => `<${name}>${v}</${name}><${name}>${v}</${name}>`) },
    { weight: 1, arbitrary: value.map((v) => `<${name}><x/>${v}</${name}>`) },
    { weight: 1, arbitrary: value.map((v) => `<${name}><!-- c -->${v}</${name}>`) }
  )

const unknownElement = fc.constantFrom(
  "<Variable_List>PBS_O_HOME=/home/x,A=b&amp;c</Variable_List>",
  "<resources_used><cput>00:00:01</cput><mem>1kb</mem></resources_used>",
  "<other a='1' b=\"2\"/>",
  "<deep><a><b><c>x</c></b></a></deep>",
  "<granted_pe name='x'>2</granted_pe>",
  "<text>a &gt; b &#65; &#x41;</text>"
)

const pick = (names: ReadonlyArray<string>) =>
  fc.tuple(fc.subarray([...names]).chain((ns) => fc.tuple(...ns.map(element))), fc.array(unknownElement, { maxLength: 3 }), fc.constantFrom("", "\n  ", " "))
    .map(([known, unknown, sep]) => [...known, ...unknown].join(sep))

const declaration = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("", "<?xml version='1.0'?>\n", '<?xml version="1.1" encoding="UTF-8"?>') },
  { weight: 1, arbitrary: fc.constantFrom(" <?xml version='1.0'?>", "<?xml-stylesheet href='x'?>", "\ufeff", "<!-- c -->") }
)

const torqueDoc = fc
  .tuple(
    declaration,
    fc.array(
      fc.oneof(
        { weight: 10, arbitrary: pick(["Job_Id", "Job_Name", "Job_Owner", "job_state", "queue", "Account_Name", "ctime", "submit_args", "exec_host", "Priority"]).map((b) => `<Job>${b}</Job>`) },
        { weight: 10, arbitrary: fc.tuple(value, value, pick(["nodes", "ncpus", "procs", "walltime", "mem"])).map(([id, st, rl]) => `<Job><Job_Id>${id || "1"}</Job_Id><job_state>${st || "Q"}</job_state><Resource_List>${rl}</Resource_List></Job>`) },
        { weight: 1, arbitrary: fc.constantFrom("<Job/>", "<Job></Job>", "<Job a='1'/>", "junk", "<Resource_List/>") }
      ),
      { maxLength: 4 }
    ),
    fc.constantFrom("Data", "Data", "Data", "Other")
  )
  .map(([decl, jobs, root]) => `${decl}<${root}>${jobs.join("")}</${root}>`)

const sgeJob = fc
  .tuple(
    fc.constantFrom("pending", "running", "", "zombie"),
    pick(["JAT_prio", "JB_name", "JB_owner", "state", "slots", "tasks", "queue_name", "JB_submission_time"]),
    fc.array(
      fc.oneof(
        fc.tuple(value, value).map(([n, v]) => `<hard_request name="${n}" resource_contribution="0.0">${v}</hard_request>`),
        value.map((v) => `<hard_req_queue>${v}</hard_req_queue>`),
        fc.tuple(value, value).map(([n, v]) => `<requested_pe name="${n}">${v}</requested_pe>`),
        value.map((v) => `<hard_request>${v}</hard_request>`),
        fc.constantFrom(`<requested_pe type="x"/>`, `<hard_request name="a" name="b">1</hard_request>`)
      ),
      { maxLength: 3 }
    ),
    fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })
  )
  .map(([state, body, extra, number]) => `<job_list${state === "" ? "" : ` state="${state}"`}>${number ? "<JB_job_number>7</JB_job_number>" : ""}${body}${extra.join("")}</job_list>`)

const sgeDoc = fc
  .tuple(
    declaration,
    fc.array(sgeJob, { maxLength: 2 }),
    fc.array(sgeJob, { maxLength: 2 }),
    fc.array(sgeJob, { maxLength: 2 }),
    fc.constantFrom("queue_info", "job_info", "Queue-List", "none")
  )
  .map(([decl, a, b, c, wrap]) => {
    const ql = `<queue_info><Queue-List><name>all.q@n1</name>${a.join("")}</Queue-List>${b.join("")}</queue_info>`
    const inner = wrap === "queue_info" ? ql : wrap === "job_info" ? `<job_info>${a.join("")}</job_info>` : wrap === "Queue-List" ? `<queue_info><Queue-List/></queue_info>` : ""
    return `${decl}<job_info xmlns:xsd="http://x/qstat.xsd?revision=1.11">\n${inner}<job_info>${c.join("\n")}</job_info></job_info>\n`
  })

describe("fast XML reader on generated listings", () => {
  it.each([
    ["torque qstat -x", parseTorque as Parse, TORQUE_DOC, torqueDoc],
    ["sge qstat -xml", parseSge as Parse, SGE_DOC, sgeDoc]
  ] as const)("%s: the same answer as the full reader", (_name, parse, doc, gen) => {
    let fast = 0
    let rights = 0
    const runs = 1500
    fc.assert(
      fc.property(gen, (xml) => {
        if (expectSame(parse, doc, xml)) fast++
        if (Either.isRight(parse(xml, "full"))) rights++
      }),
      { numRuns: runs }
    )
    // both paths and both outcomes are exercised
    expect(fast).toBeGreaterThan(runs / 20)
    expect(rights).toBeGreaterThan(runs / 20)
    expect(rights).toBeLessThan(runs)
  })

  it("decodes entities as fast-xml-parser does", () => {
    expect(decodeEntities("a&amp;b &lt;&gt;&quot;&apos; &amp;lt;", false)).toBe("a&b <>\"' &lt;")
    expect(decodeEntities("&#65;&#x41;&nbsp;&;&#0;x&#12;&#x1F;&#9;&#xD800;", false)).toBe("&#65;&#x41;&nbsp;&;x&#9;")
    expect(decodeEntities("&#12;&#x1F;", true)).toBe("&#12;&#x1F;")
  })
})
