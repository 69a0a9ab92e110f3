import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { JobState, NodeState } from "../../model/types.ts"
import { MAX_INPUT_CHARS } from "../parsing.ts"
import { expectTotal as expectTotalOf, leftMessage, right, sharedFixtures } from "../testing/parsers.ts"
import {
  parseCheckNode,
  parseDiagnoseP,
  parseNodeJobs,
  parseNodesSpec,
  parsePbsnodes,
  parseQstat,
  parseShowres,
  parseStatus,
  priorityMap,
  shortJobId,
  torqueNodeState,
  torqueView,
  type CheckNode,
  type PbsNode
} from "./parse.ts"

// Real captures live beside the repository (../shared/fixtures), never copied in.
const { have: haveFixtures, read: fixture } = sharedFixtures("torque parsers")

const node = (over: Partial<PbsNode>): PbsNode => ({
  name: "wn1",
  state: "free",
  np: 4,
  properties: [],
  ntype: "cluster",
  jobs: [],
  status: {},
  other: {},
  ...over
})
const maui = (state: string): CheckNode => ({ host: null, state, secondsInState: 10, jobs: [] })

// ---------------------------------------------------------------- totality

const XML_JUNK = ["<", ">", "</Node>", "<Job>", "&", "&#0;", "\u0000", "]]>", "<!DOCTYPE x [<!ENTITY a 'b'>]>"]
const expectTotal = (parse: (s: string) => Either.Either<unknown, unknown>, samples: ReadonlyArray<string>) =>
  expectTotalOf(parse, samples, { junk: XML_JUNK, runs: 150 })

// ---------------------------------------------------------------- pbsnodes -x

describe.skipIf(!haveFixtures)("parsePbsnodes on torque/pbsnodes_x_64nodes.xml", () => {
  const nodes = haveFixtures ? right(parsePbsnodes(fixture("torque/pbsnodes_x_64nodes.xml"))) : []
  const byName = new Map(nodes.map((n) => [n.name, n]))

  it("reads all 64 nodes with their states", () => {
    expect(nodes).toHaveLength(64)
    const count = (s: string) => nodes.filter((n) => n.state === s).length
    expect([count("free"), count("job-exclusive"), count("offline")]).toEqual([54, 7, 3])
    expect(nodes.filter((n) => n.state === "offline").map((n) => n.name)).toEqual(["n001", "n014", "n031"])
  })

  it("reads name, np, properties, status and other attributes", () => {
    const n001 = byName.get("n001")!
    expect(n001).toMatchObject({ name: "n001", state: "offline", np: 8, properties: ["compute", "enc1"], ntype: "cluster", jobs: [] })
    expect(n001.status).toMatchObject({
      rectime: "1390343624",
      jobs: "",
      state: "free",
      ncpus: "8",
      physmem: "32941056kb",
      nsessions: "? 0",
      uname: "Linux n001.cluster.example.org 2.6.32-279.14.1.el6.x86_64 #1 SMP Tue Nov 6 23:43:09 UTC 2012 x86_64",
      opsys: "linux"
    })
    expect(n001.other).toEqual({ gpus: "0" })
    expect(byName.get("n031")!.properties).toEqual(["compute", "enc2"])
  })

  it("turns the job slots into short ids", () => {
    expect(byName.get("n057")!.jobs).toEqual(["0/1158770", "1/1158770", "2/1158770", "3/1158770", "4/1158770", "5/1158770", "6/1158770", "7/1158770"])
    expect(byName.get("n061")!.jobs[7]).toBe("7/1158769")
    expect(byName.get("n057")!.status.loadave).toBe("8.25")
    // n064 is "free" with one job on one of its 8 slots.
    expect(nodes.filter((n) => n.jobs.length > 0).map((n) => n.name)).toEqual(["n057", "n058", "n059", "n060", "n061", "n062", "n063", "n064"])
    expect(byName.get("n064")).toMatchObject({ state: "free", jobs: ["0/1158579"] })
  })

  it("parses a 19,200-node output (300 copies) without trouble", () => {
    const text = fixture("torque/pbsnodes_x_64nodes.xml")
    const inner = text.slice(text.indexOf("<Node>"), text.lastIndexOf("</Data>"))
    const huge = `<Data>${inner.repeat(300)}</Data>`
    expect(huge.length).toBeGreaterThan(9_000_000)
    expect(right(parsePbsnodes(huge))).toHaveLength(64 * 300)
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parsePbsnodes, [fixture("torque/pbsnodes_x_64nodes.xml")])
  })
})

describe("parsePbsnodes: documented shapes and garbage", () => {
  it("reads a node still joining (Torque 6: down,offline,MOM-list-not-sent)", () => {
    const xml =
      "<Data><Node><name>ip-10-0-76-39</name><state>down,offline,MOM-list-not-sent</state><power_state>Running</power_state>" +
      "<np>1</np><ntype>cluster</ntype><mom_service_port>15002</mom_service_port><mom_manager_port>15003</mom_manager_port></Node></Data>"
    const [n] = right(parsePbsnodes(xml))
    expect(n).toMatchObject({ name: "ip-10-0-76-39", state: "down,offline,MOM-list-not-sent", np: 1, jobs: [] })
    expect(n.other).toEqual({ power_state: "Running", mom_service_port: "15002", mom_manager_port: "15003" })
    expect(torqueNodeState(n, undefined)).toBe(NodeState.Starting)
  })

  it("reads Torque 6 slot ranges and lists", () => {
    expect(parseNodeJobs("0-3/138.head.example.org")).toEqual(["0-3/138"])
    expect(parseNodeJobs("1/136.h,2/137.h,0,3/138.h")).toEqual(["1/136", "2/137", "0/138", "3/138"])
    expect(parseNodeJobs("0/13.host, 1/13.host")).toEqual(["0/13", "1/13"])
    expect(parseNodeJobs("")).toEqual([])
  })

  it("short ids", () => {
    expect(shortJobId("0/13.host")).toBe("0/13")
    expect(shortJobId("665199.superserver.stanford.edu")).toBe("665199")
    expect(shortJobId("673175[19].fruster.stanford.edu")).toBe("673175[19]")
    expect(shortJobId("42")).toBe("42")
  })

  it("status values may hold commas", () => {
    expect(parseStatus("a=1,msg=x, y,b=")).toEqual({ a: "1", msg: "x, y", b: "" })
  })

  it("empty output and an empty <Data> are no nodes", () => {
    expect(parsePbsnodes("")).toEqual(Either.right([]))
    expect(parsePbsnodes("  \n")).toEqual(Either.right([]))
    expect(parsePbsnodes("<Data></Data>")).toEqual(Either.right([]))
    expect(parsePbsnodes("<Data/>")).toEqual(Either.right([]))
  })

  it.each([
    ["pbsnodes: Server has no node list", "malformed XML"],
    ["<Data><Node><name>a</name><state>free</state>", "malformed XML"],
    ["<Other/>", "Data is missing"],
    ["<Data><Node><state>free</state></Node></Data>", "Data.Node[0].name is missing"],
    ["<Data><Node><name>a</name><state>free</state><np>eight</np></Node></Data>", "Data.Node[0].np"],
    ["<Data><Node><name>a</name><name>b</name><state>free</state></Node></Data>", "Data.Node[0].name"]
  ])("refuses %j", (xml, why) => {
    expect(leftMessage(parsePbsnodes(xml))).toContain(why)
  })

  it("refuses oversized and non-text input", () => {
    expect(leftMessage(parsePbsnodes("x".repeat(MAX_INPUT_CHARS + 1)))).toContain("too large")
    expect(leftMessage(parsePbsnodes(undefined as unknown as string))).toContain("expected text")
  })

  it("never throws on random input", () => {
    expectTotal(parsePbsnodes, ["<Data><Node><name>a</name><state>free</state><np>2</np><jobs>0/1.h</jobs></Node></Data>"])
  })
})

// ---------------------------------------------------------------- qstat -x -t

describe.skipIf(!haveFixtures)("parseQstat on torque/qstat_x_fyrd_stanford.xml", () => {
  const jobs = haveFixtures ? right(parseQstat(fixture("torque/qstat_x_fyrd_stanford.xml"))) : []
  const byId = new Map(jobs.map((j) => [j.shortId, j]))

  it("reads all 6 jobs, array parent and sub-jobs included", () => {
    expect(jobs.map((j) => [j.shortId, j.state, j.queue])).toEqual([
      ["665199", "R", "interactive"],
      ["667999", "Q", "batch"],
      ["673174", "C", "tiny"],
      ["673175[]", "C", "jolly"],
      ["673175[19]", "C", "batch"],
      ["673175[20]", "C", "batch"]
    ])
    expect(jobs[4].id).toBe("673175[19].fruster.stanford.edu")
  })

  it("reads Resource_List.nodes 1:ppn=1 and the job's attributes", () => {
    expect(byId.get("665199")).toMatchObject({
      id: "665199.superserver.stanford.edu",
      name: "int_tmux",
      owner: "johnfox@wow-server",
      requestedCores: 1,
      coresPerNode: 1,
      property: null,
      mem: "4gb",
      walltime: null,
      nodes: "1:ppn=1",
      creationTime: "1479339279",
      account: null
    })
  })

  it("reads Resource_List.ncpus, walltime and mem of the queued job", () => {
    const j = byId.get("667999")!
    expect(j).toMatchObject({
      name: "map_It3_Ir4",
      owner: "robby@node07",
      state: "Q",
      requestedCores: 1,
      coresPerNode: 1,
      walltime: "23:59:00",
      mem: "32gb",
      creationTime: "1479779395"
    })
    expect(j.extra.submit_args).toContain("-l mem=32gb,walltime=23:59:00,ncpus=1")
    expect(j.extra.submit_host).toBe("node07.superserver.stanford.edu")
  })

  it("does not keep Variable_List (it can carry a user's environment)", () => {
    expect(Object.keys(byId.get("673174")!.extra)).not.toContain("Variable_List")
    expect(byId.get("673175[]")!.extra.job_array_request).toBe("1-20")
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseQstat, [fixture("torque/qstat_x_fyrd_stanford.xml")])
  })
})

describe("parseQstat: resource requests", () => {
  it.each([
    ["1:ppn=1", null, 1, 1, null],
    ["2:ppn=4", null, 8, 4, null],
    ["2:ppn=4:bigmem", null, 8, 4, "bigmem"],
    ["3:bigmem", null, 3, 1, "bigmem"],
    ["3:bigmem:ppn=2", null, 6, 2, "bigmem"],
    ["2", null, 2, 1, null],
    ["2:ppn=4:gpus=1", null, 8, 4, null],
    ["n01:ppn=2+n02:ppn=2", null, 4, 2, null],
    ["1:ppn=2+2:ppn=4", null, 10, 4, null],
    ["1", 4, 4, 4, null],
    ["2", 4, 8, 4, null]
  ])("nodes=%s ncpus=%s → %i cores, %i per node, property %s", (spec, ncpus, cores, perNode, prop) => {
    expect(parseNodesSpec(spec, ncpus)).toEqual({ requestedCores: cores, coresPerNode: perNode, property: prop })
  })

  const job = (resources: string, extra = "") =>
    `<Data><Job><Job_Id>7.head</Job_Id><job_state>Q</job_state><queue>default</queue>${extra}<Resource_List>${resources}</Resource_List></Job></Data>`

  it("ncpus without nodes, procs, Account_Name, and no request at all", () => {
    expect(right(parseQstat(job("<ncpus>6</ncpus>")))[0]).toMatchObject({ requestedCores: 6, coresPerNode: 6 })
    expect(right(parseQstat(job("<procs>12</procs>")))[0]).toMatchObject({ requestedCores: 12, coresPerNode: 0 })
    expect(right(parseQstat(job("", "<Account_Name>proj1</Account_Name>")))[0]).toMatchObject({
      requestedCores: 1,
      coresPerNode: 1,
      account: "proj1"
    })
    expect(right(parseQstat(job("<nodes>2:ppn=8:gpu</nodes><walltime>01:00:00</walltime>")))[0]).toMatchObject({
      requestedCores: 16,
      coresPerNode: 8,
      property: "gpu",
      walltime: "01:00:00"
    })
  })

  it("empty output is no jobs; garbage is an error naming the path", () => {
    expect(parseQstat("")).toEqual(Either.right([]))
    expect(parseQstat("<Data></Data>")).toEqual(Either.right([]))
    expect(leftMessage(parseQstat("<Data><Job><job_state>Q</job_state></Job></Data>"))).toContain("Data.Job[0].Job_Id")
    expect(leftMessage(parseQstat("<Data><Job><Job_Id>1</Job_Id></Job></Data>"))).toContain("Data.Job[0].job_state")
    expect(leftMessage(parseQstat("qstat: cannot connect to server"))).toContain("malformed XML")
  })
})

// ---------------------------------------------------------------- checknode

describe.skipIf(!haveFixtures)("parseCheckNode on maui/checknode_P690-032.txt", () => {
  it("reads the node, its state, time in state and job list", () => {
    expect(right(parseCheckNode(fixture("maui/checknode_P690-032.txt")))).toEqual({
      host: "P690-032",
      state: "busy",
      secondsInState: 11 * 3600 + 31 * 60 + 10,
      jobs: ["13186"]
    })
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseCheckNode, [fixture("maui/checknode_P690-032.txt")])
  })
})

describe("parseCheckNode: classic Maui 3 output", () => {
  it("reads the `checking node X` header and day-long durations", () => {
    const text = [
      "",
      "checking node wn-3",
      "",
      "State:      Idle  (in current state for 2:21:20:07)",
      "Configured Resources: PROCS: 8  MEM: 15G  SWAP: 31G  DISK: 1M",
      "Utilized   Resources: [NONE]",
      "JobList:  [NONE]"
    ].join("\n")
    expect(right(parseCheckNode(text))).toEqual({
      host: "wn-3",
      state: "idle",
      secondsInState: 2 * 86400 + 21 * 3600 + 20 * 60 + 7,
      jobs: []
    })
  })

  it.each([
    ["State:   Drained  (in current state for 00:00:12)", "drained", 12],
    ["State:      Down  (in current state for 1:02)", "down", 62],
    ["State:   Running  (in current state for -00:00:05)", "running", -5],
    ["State:   Draining", "draining", null]
  ])("%s", (line, state, seconds) => {
    expect(right(parseCheckNode(`checking node n1\n\n${line}\n`))).toMatchObject({ state, secondsInState: seconds })
  })

  it("a node Maui does not know is gone", () => {
    expect(right(parseCheckNode("ERROR:  cannot locate node 'wn-9'\n"))).toEqual({ host: "wn-9", state: "gone", secondsInState: null, jobs: [] })
  })

  it("output without a State line is an error", () => {
    expect(leftMessage(parseCheckNode(""))).toContain("State:")
    expect(leftMessage(parseCheckNode("ERROR:  cannot connect to Maui server\n"))).toContain("State:")
  })
})

// ---------------------------------------------------------------- diagnose -p

describe.skipIf(!haveFixtures)("parseDiagnoseP on maui/diagnose_p.txt", () => {
  const ps = haveFixtures ? right(parseDiagnoseP(fixture("maui/diagnose_p.txt"))) : []

  it("reads the 16 job rows and nothing else", () => {
    expect(ps).toHaveLength(16)
    expect(ps[0]).toEqual({ jobId: "fr8n01.1300.0", priority: 52203, system: false })
    expect(ps[15]).toEqual({ jobId: "fr8n01.1260.0", priority: 1814, system: false })
    expect(ps.map((p) => p.jobId)).not.toContain("Weights")
    expect(ps.map((p) => p.jobId)).not.toContain("Totals")
    expect(priorityMap(ps).get("fr1n04.2067.0")).toBe(7403)
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseDiagnoseP, [fixture("maui/diagnose_p.txt")])
  })
})

describe("parseDiagnoseP: Maui 3 layout", () => {
  it("reads wide columns, indented Weights, Percent Contribution and the * mark", () => {
    const text = [
      "diagnosing job priority information (partition: ALL)",
      "",
      "Job                    PRIORITY*   Cred(  QOS)    FS(Accnt)  Serv(QTime)",
      "             Weights   --------       1(    1)     1(    1)     1(    1)",
      "",
      "13                          1       100.0(  0.0)   0.0(  0.0) 100.0(  1.0)",
      "14                      5000*       100.0(  0.0)   0.0(  0.0) 100.0(  1.0)",
      "673175[3]                  -2       100.0(  0.0)   0.0(  0.0) 100.0(  1.0)",
      "",
      "Percent Contribution   --------   0.0(  0.0)   0.0(  0.0) 100.0(100.0)",
      "",
      "* indicates system prio set on job"
    ].join("\n")
    expect(right(parseDiagnoseP(text))).toEqual([
      { jobId: "13", priority: 1, system: false },
      { jobId: "14", priority: 5000, system: true },
      { jobId: "673175[3]", priority: -2, system: false }
    ])
  })

  it("empty output is no jobs; other text is an error", () => {
    expect(parseDiagnoseP("")).toEqual(Either.right([]))
    expect(right(parseDiagnoseP("diagnosing job priority information (partition: ALL)\n\n"))).toEqual([])
    expect(leftMessage(parseDiagnoseP("ERROR:    cannot connect to server\n13 5\n"))).toContain("header")
  })
})

// ---------------------------------------------------------------- showres -n

describe.skipIf(!haveFixtures)("parseShowres on maui/showres_n.txt", () => {
  const byNode = haveFixtures ? right(parseShowres(fixture("maui/showres_n.txt"))) : new Map()

  it("reads the 52 reservation rows of 32 nodes", () => {
    expect(byNode.size).toBe(32)
    expect([...byNode.values()].reduce((n, rs) => n + rs.length, 0)).toBe(52)
    expect(byNode.get("G5-001")).toEqual([
      {
        node: "G5-001",
        type: "Job",
        reservationId: "12946",
        jobState: "Running",
        task: 2,
        start: "-1:47:09",
        duration: "1:06:00:00",
        startTime: "Thu Sep 1 15:02:50"
      },
      {
        node: "G5-001",
        type: "Job",
        reservationId: "12956",
        jobState: "Idle",
        task: 2,
        start: "1:04:12:51",
        duration: "6:40:00",
        startTime: "Fri Sep 2 21:02:50"
      }
    ])
    expect(byNode.get("P690-013")!.map((r: { reservationId: string }) => r.reservationId)).toEqual(["12944", "12969"])
    expect(byNode.get("P690-001")).toHaveLength(1)
  })

  it("reads the rows left by the classic `showres -n | grep HOST` template", () => {
    const lines = fixture("maui/showres_n.txt")
      .split("\n")
      .filter((l) => l.includes("G5-007"))
      .join("\n")
    expect(right(parseShowres(lines)).get("G5-007")!.map((r) => r.reservationId)).toEqual(["12956", "12939"])
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseShowres, [fixture("maui/showres_n.txt")])
  })
})

describe("parseShowres: standing reservations and garbage", () => {
  it("reads User (standing) reservations", () => {
    const text = [
      "reservations on Mon Jan 16 10:00:00",
      "",
      "NodeName     Type      ReservationID   JobState Task       Start    Duration  StartTime",
      "",
      "wn-1         User       dynamicwn.0         N/A    1 -2:30:54:03    INFINITY  Fri Jan 13 07:05:57",
      "wn-1         User          proj1.1         N/A    1 -2:30:54:03    INFINITY  Fri Jan 13 07:05:57",
      "",
      "1 node reserved"
    ].join("\n")
    const m = right(parseShowres(text))
    expect(m.get("wn-1")!.map((r) => [r.type, r.reservationId, r.jobState, r.duration])).toEqual([
      ["User", "dynamicwn.0", "N/A", "INFINITY"],
      ["User", "proj1.1", "N/A", "INFINITY"]
    ])
  })

  it("empty output is no reservations; a line that is not a row is an error", () => {
    expect(right(parseShowres("")).size).toBe(0)
    expect(leftMessage(parseShowres("ERROR:    cannot connect to server\n"))).toContain("line 1")
  })
})

// ---------------------------------------------------------------- the view

describe("torqueView: SPEC §3 node mapping", () => {
  it.each([
    ["offline", "drained", NodeState.Held],
    ["offline", "idle", NodeState.Holding],
    ["offline", undefined, NodeState.Holding],
    ["offline,job-exclusive", "busy", NodeState.Holding],
    ["down", "down", NodeState.Error],
    ["free", "down", NodeState.Error],
    ["job-exclusive", "busy", NodeState.Busy],
    ["free", "running", NodeState.Busy],
    ["free", "idle", NodeState.Idle],
    ["down,offline,MOM-list-not-sent", "down", NodeState.Starting],
    ["state-unknown,down", undefined, NodeState.Error],
    ["free", undefined, NodeState.Idle],
    ["job-exclusive", undefined, NodeState.Busy]
  ] as const)("pbsnodes %s, Maui %s", (pbs, m, expected) => {
    expect(torqueNodeState(node({ state: pbs }), m === undefined ? undefined : maui(m))).toBe(expected)
  })

  it("a node Maui still calls idle but that lists jobs is Busy", () => {
    expect(torqueNodeState(node({ jobs: ["0/12"] }), maui("idle"))).toBe(NodeState.Busy)
  })

  it("builds nodes with short job ids, np and extra attributes", () => {
    const view = torqueView(
      [node({ name: "wn1", state: "job-exclusive", np: 2, jobs: ["0/12", "1/12"], properties: ["cloud"], status: { ncpus: "2" }, other: { gpus: "0" } })],
      new Map([["wn1", maui("busy")]]),
      [],
      new Map(),
      []
    )
    expect(view.nodes).toEqual([
      {
        hostname: "wn1",
        state: NodeState.Busy,
        jobs: "0/12,1/12",
        num_proc: 2,
        extra_attributes: {
          pbs_state: "job-exclusive",
          properties: "cloud",
          ntype: "cluster",
          gpus: "0",
          status: { ncpus: "2" },
          maui_state: "busy",
          maui_seconds_in_state: 10
        }
      }
    ])
    expect(view.jobs).toEqual([])
  })
})

describe.skipIf(!haveFixtures)("torqueView on the real captures", () => {
  const nodes = haveFixtures ? right(parsePbsnodes(fixture("torque/pbsnodes_x_64nodes.xml"))) : []
  const jobs = haveFixtures ? right(parseQstat(fixture("torque/qstat_x_fyrd_stanford.xml"))) : []
  const checknode = new Map<string, CheckNode>()
  for (const n of nodes) {
    if (n.name === "n031") continue // checknode failed for it
    checknode.set(n.name, maui(n.name === "n001" ? "drained" : n.state === "job-exclusive" ? "busy" : n.jobs.length > 0 ? "running" : "idle"))
  }

  it("maps the 64 nodes", () => {
    const view = torqueView(nodes, checknode, jobs, new Map(), [])
    const count = (s: NodeState) => view.nodes.filter((n) => n.state === s).length
    expect([count(NodeState.Idle), count(NodeState.Busy), count(NodeState.Held), count(NodeState.Holding)]).toEqual([53, 8, 1, 2])
    expect(view.nodes.find((n) => n.hostname === "n057")).toMatchObject({
      state: NodeState.Busy,
      num_proc: 8,
      jobs: "0/1158770,1/1158770,2/1158770,3/1158770,4/1158770,5/1158770,6/1158770,7/1158770"
    })
    expect(view.nodes.find((n) => n.hostname === "n064")).toMatchObject({ state: NodeState.Busy, jobs: "0/1158579" })
    expect(view.nodes.find((n) => n.hostname === "n002")).toMatchObject({ state: NodeState.Idle, jobs: null, num_proc: 8 })
    expect(view.nodes.find((n) => n.hostname === "n001")).toMatchObject({ state: NodeState.Held })
    expect(view.nodes.find((n) => n.hostname === "n014")).toMatchObject({ state: NodeState.Holding })
  })

  it("queues only state Q jobs of monitored queues, with Maui's priority or null", () => {
    const all = torqueView(nodes, checknode, jobs, new Map(), [])
    expect(all.jobs).toHaveLength(1)
    expect(all.jobs[0]).toMatchObject({
      jobid: "667999",
      name: "map_It3_Ir4",
      owner: "robby@node07",
      queue: "batch",
      priority: null,
      state: JobState.Queued,
      requested_cores: 1,
      cores_per_node: 1,
      requested_mem: "32gb",
      requested_walltime: "23:59:00",
      creation_time: "1479779395"
    })
    expect(all.jobs[0].extra_attributes).toMatchObject({ id: "667999.superserver.stanford.edu" })
    expect(torqueView(nodes, checknode, jobs, new Map([["667999", 4328]]), []).jobs[0].priority).toBe(4328)
    expect(torqueView(nodes, checknode, jobs, new Map([["667999.superserver.stanford.edu", 7]]), []).jobs[0].priority).toBe(7)
    expect(torqueView(nodes, checknode, jobs, new Map(), ["batch"]).jobs).toHaveLength(1)
    expect(torqueView(nodes, checknode, jobs, new Map(), ["interactive", "tiny"]).jobs).toHaveLength(0)
  })

  it("uses the real checknode and diagnose captures", () => {
    const cn = right(parseCheckNode(fixture("maui/checknode_P690-032.txt")))
    const view = torqueView([node({ name: "P690-032", state: "job-exclusive", np: 1, jobs: ["0/13186"] })], new Map([[cn.host!, cn]]), [], new Map(), [])
    expect(view.nodes[0]).toMatchObject({ state: NodeState.Busy, jobs: "0/13186" })
    const prios = priorityMap(right(parseDiagnoseP(fixture("maui/diagnose_p.txt"))))
    const queued = right(
      parseQstat(
        "<Data><Job><Job_Id>fr8n01.1300.0</Job_Id><job_state>Q</job_state><queue>batch</queue></Job>" +
          "<Job><Job_Id>99.head</Job_Id><job_state>Q</job_state><queue>batch</queue></Job></Data>"
      )
    )
    // Maui lists fr8n01.1300.0 whole; Torque's short id is "fr8n01": found by full id.
    expect(torqueView([], new Map(), queued, prios, []).jobs.map((j) => [j.jobid, j.priority])).toEqual([
      ["fr8n01", 52203],
      ["99", null]
    ])
  })
})

describe("torqueView: array jobs", () => {
  it("counts queued sub-jobs, not their parent", () => {
    const jobs = right(
      parseQstat(
        "<Data>" +
          ["5[].h", "5[1].h", "5[2].h", "6[].h"].map((id) => `<Job><Job_Id>${id}</Job_Id><job_state>Q</job_state><queue>q</queue></Job>`).join("") +
          "</Data>"
      )
    )
    expect(torqueView([], new Map(), jobs, new Map(), []).jobs.map((j) => j.jobid)).toEqual(["5[1]", "5[2]", "6[]"])
  })
})
