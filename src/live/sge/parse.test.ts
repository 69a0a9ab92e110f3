import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { JobState, NodeState } from "../../model/types.ts"
import { expectTotal as expectTotalOf, leftMessage, right, sharedFixtures } from "../testing/parsers.ts"
import {
  coresPerNodeFor,
  isQueued,
  parseAllocationRule,
  parseQconfSp,
  parseQconfSpl,
  parseQhost,
  parseQstat,
  sgeNodeState,
  sgeTime,
  sgeView,
  splitQueueRequest,
  type AllocationRule,
  type QhostHost
} from "./parse.ts"

// Real captures live beside the repository (../shared/fixtures), never copied in.
const { have: haveFixtures, read: fixture } = sharedFixtures("sge parsers")

const XML_JUNK = ["<", ">", "</host>", "<job_list>", "&", "'", "\u0000", "<![CDATA[x]]>", "\\\n"]
const expectTotal = (parse: (s: string) => Either.Either<unknown, unknown>, samples: ReadonlyArray<string>) =>
  expectTotalOf(parse, samples, { junk: XML_JUNK })

/**
 * `qhost -q -j -xml` in the shape Grid Engine's XML report handler prints
 * (qhost.c xml_report_*: <queue name>/<queuevalue qname name>, <job name>/
 * <jobvalue jobid name>, doubles as '%f'). No real capture of it is public.
 */
const host = (name: string, queues: ReadonlyArray<readonly [string, string]>, jobs: ReadonlyArray<string> = [], numProc = "4") =>
  [
    ` <host name='${name}'>`,
    `   <hostvalue name='arch_string'>lx-amd64</hostvalue>`,
    `   <hostvalue name='num_proc'>${numProc}</hostvalue>`,
    `   <hostvalue name='load_avg'>0.01</hostvalue>`,
    ...queues.flatMap(([q, state]) => [
      ` <queue name='${q}'>`,
      `   <queuevalue qname='${q}' name='qtype_string'>BIP</queuevalue>`,
      `   <queuevalue qname='${q}' name='slots_used'>${jobs.length}</queuevalue>`,
      `   <queuevalue qname='${q}' name='slots'>${numProc}</queuevalue>`,
      `   <queuevalue qname='${q}' name='slots_resv'>0</queuevalue>`,
      `   <queuevalue qname='${q}' name='state_string'>${state}</queuevalue>`,
      ` </queue>`
    ]),
    ...jobs.flatMap((j) => [
      ` <job name='${j}'>`,
      `   <jobvalue jobid='${j}' name='priority'>'0.555000'</jobvalue>`,
      `   <jobvalue jobid='${j}' name='qinstance_name'>all.q@${name}</jobvalue>`,
      `   <jobvalue jobid='${j}' name='job_name'>job${j}</jobvalue>`,
      `   <jobvalue jobid='${j}' name='job_owner'>alice</jobvalue>`,
      `   <jobvalue jobid='${j}' name='job_state'>r</jobvalue>`,
      `   <jobvalue jobid='${j}' name='start_time'>1541444183</jobvalue>`,
      `   <jobvalue jobid='${j}' name='pe_master'>MASTER</jobvalue>`,
      ` </job>`
    ]),
    ` </host>`
  ].join("\n")

const qhostDoc = (...hosts: ReadonlyArray<string>) =>
  [
    "<?xml version='1.0'?>",
    `<qhost xmlns:xsd="http://gridengine.sunsource.net/source/browse/*checkout*/gridengine/source/dist/util/resources/schemas/qhost/qhost.xsd?revision=1.2">`,
    host("global", []),
    ...hosts,
    "</qhost>"
  ].join("\n")

// ---------------------------------------------------------------- qhost

describe.skipIf(!haveFixtures)("parseQhost on sge/qhost_xml_165hosts.xml", () => {
  const hosts = haveFixtures ? right(parseQhost(fixture("sge/qhost_xml_165hosts.xml"))) : []

  it("reads the 165 hosts and leaves out the global pseudo-host", () => {
    expect(hosts).toHaveLength(165)
    expect(hosts.map((h) => h.name)).not.toContain("global")
    expect(hosts[0].name).toBe("x1701")
    expect(hosts[164].name).toBe("yh03")
  })

  it("reads num_proc and the host values", () => {
    expect(hosts[0]).toEqual({
      name: "x1701",
      numProc: 32,
      values: {
        arch_string: "linux-x64",
        num_proc: "32",
        load_avg: "32.10",
        mem_total: "93.1G",
        mem_used: "2.7G",
        swap_total: "106.0G",
        swap_used: "984.1M"
      },
      queues: [],
      jobs: [],
      jobEntries: []
    })
    expect(hosts[164]).toMatchObject({ numProc: 24, values: { load_avg: "23.06", mem_total: "62.8G" } })
    const perSize = new Map<number | null, number>()
    for (const h of hosts) perSize.set(h.numProc, (perSize.get(h.numProc) ?? 0) + 1)
    expect(Object.fromEntries(perSize)).toEqual({ 8: 2, 12: 5, 16: 31, 24: 46, 32: 22, 40: 6, 52: 20, 64: 33 })
  })

  it("maps to Idle nodes with their cores (plain qhost -xml lists no queues or jobs)", () => {
    const view = sgeView(hosts, [], new Map(), [])
    expect(view.nodes).toHaveLength(165)
    expect(view.nodes.every((n) => n.state === NodeState.Idle && n.jobs === null)).toBe(true)
    expect(view.nodes[0]).toMatchObject({ hostname: "x1701", num_proc: 32 })
    expect(view.nodes[0].extra_attributes).toMatchObject({ load_avg: "32.10", queues: {} })
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseQhost, [fixture("sge/qhost_xml_165hosts.xml")])
  })
})

describe("parseQhost: -q -j output", () => {
  const doc = qhostDoc(
    host("wn-idle", [["all.q", ""]]),
    host("wn-busy", [["all.q", ""]], ["101", "102", "101"]),
    host("wn-held", [["all.q", "d"]], ["103"]),
    host("wn-error", [["all.q", "E"]]),
    host("wn-unknown", [["all.q", "au"]], [], "-"),
    host("wn-mixed", [
      ["all.q", "d"],
      ["other.q", ""]
    ])
  )
  const hosts = right(parseQhost(doc))
  const byName = new Map(hosts.map((h) => [h.name, h]))

  it("reads queues with their state strings and slots, and the jobs", () => {
    expect(hosts.map((h) => h.name)).toEqual(["wn-idle", "wn-busy", "wn-held", "wn-error", "wn-unknown", "wn-mixed"])
    expect(byName.get("wn-held")!.queues).toEqual([
      {
        name: "all.q",
        state: "d",
        slots: 4,
        slotsUsed: 1,
        values: { qtype_string: "BIP", slots_used: "1", slots: "4", slots_resv: "0", state_string: "d" }
      }
    ])
    expect(byName.get("wn-idle")!.queues[0].state).toBe("")
    const busy = byName.get("wn-busy")!
    expect(busy.jobs).toEqual(["101", "102"])
    expect(busy.jobEntries).toHaveLength(3)
    expect(busy.jobEntries[0].values).toMatchObject({ priority: "'0.555000'", job_owner: "alice", job_state: "r", qinstance_name: "all.q@wn-busy" })
    expect(byName.get("wn-unknown")!.numProc).toBeNull()
  })

  it("maps queue states per SPEC §3", () => {
    const view = sgeView(hosts, [], new Map(), [])
    expect(Object.fromEntries(view.nodes.map((n) => [n.hostname, n.state]))).toEqual({
      "wn-idle": NodeState.Idle,
      "wn-busy": NodeState.Busy,
      "wn-held": NodeState.Held,
      "wn-error": NodeState.Error,
      "wn-unknown": NodeState.Error,
      "wn-mixed": NodeState.Idle
    })
    expect(view.nodes.find((n) => n.hostname === "wn-busy")).toMatchObject({ jobs: "101,102", num_proc: 4 })
    expect(view.nodes.find((n) => n.hostname === "wn-unknown")!.num_proc).toBe(0)
    expect(view.nodes.find((n) => n.hostname === "wn-mixed")!.extra_attributes).toMatchObject({ queues: { "all.q": "d", "other.q": "" } })
  })

  it("a `u` host the engine still has as Starting stays Starting; E is an error regardless", () => {
    const view = sgeView(hosts, [], new Map(), [], new Set(["wn-unknown", "wn-error"]))
    expect(view.nodes.find((n) => n.hostname === "wn-unknown")!.state).toBe(NodeState.Starting)
    expect(view.nodes.find((n) => n.hostname === "wn-error")!.state).toBe(NodeState.Error)
  })

  it("only the monitored queues count when the host has them", () => {
    const mixed = byName.get("wn-mixed")!
    expect(sgeNodeState(mixed, ["all.q"], false)).toBe(NodeState.Held)
    expect(sgeNodeState(mixed, ["other.q"], false)).toBe(NodeState.Idle)
    expect(sgeNodeState(mixed, ["nowhere.q"], false)).toBe(NodeState.Idle)
  })

  it("reads jobs listed inside queues (older releases)", () => {
    const xml =
      "<qhost><host name='n1'><hostvalue name='num_proc'>2</hostvalue><queue name='all.q'>" +
      "<queuevalue qname='all.q' name='state_string'></queuevalue>" +
      "<job name='7'><jobvalue jobid='7' name='job_state'>r</jobvalue></job></queue></host></qhost>"
    const [h] = right(parseQhost(xml))
    expect(h.jobs).toEqual(["7"])
    expect(sgeNodeState(h as QhostHost, [], false)).toBe(NodeState.Busy)
  })

  it("empty output is no hosts; garbage is an error", () => {
    expect(parseQhost("")).toEqual(Either.right([]))
    expect(parseQhost("<qhost></qhost>")).toEqual(Either.right([]))
    expect(leftMessage(parseQhost("error: commlib error: got select error (Connection refused)"))).toContain("malformed XML")
    expect(leftMessage(parseQhost("<qhost><host><hostvalue name='x'>1</hostvalue></host></qhost>"))).toContain("qhost.host[0].@_name")
    expect(leftMessage(parseQhost("<job_info/>"))).toContain("qhost is missing")
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseQhost, [doc])
  })
})

// ---------------------------------------------------------------- qstat

describe.skipIf(!haveFixtures)("parseQstat on sge/qstat_r_xml_ood_core.xml", () => {
  const jobs = haveFixtures ? right(parseQstat(fixture("sge/qstat_r_xml_ood_core.xml"))) : []

  it("reads the running job and the 3 pending ones", () => {
    expect(jobs.map((j) => [j.id, j.listState, j.state])).toEqual([
      ["88", "running", "r"],
      ["1045", "pending", "qw"],
      ["1046", "pending", "qw"],
      ["44", "pending", "hqw"]
    ])
  })

  it("reads JAT_prio, hard_req_queue, h_rt, project and tasks", () => {
    expect(jobs[0]).toMatchObject({ name: "job_15", owner: "vagrant", project: "project_a", prio: 0.75, hardQueue: "general.q", hRt: "360", startTime: "2018-10-10T14:37:16" })
    expect(jobs[1]).toEqual({
      id: "1045",
      name: "job_RQ",
      owner: "vagrant",
      project: "project_b",
      listState: "pending",
      state: "qw",
      prio: 0.25,
      hardQueue: "general.q",
      queueName: null,
      hRt: "360",
      memFree: null,
      pe: null,
      slots: 1,
      tasks: null,
      submissionTime: "2018-10-09T18:47:05",
      startTime: null,
      hardRequests: { h_rt: "360" }
    })
    expect(jobs[2]).toMatchObject({ tasks: "1-10:2", project: null })
    expect(jobs[3]).toMatchObject({ prio: 0, state: "hqw" })
  })

  it("queues the pending jobs that are not held", () => {
    expect(jobs.filter(isQueued).map((j) => j.id)).toEqual(["1045", "1046"])
    const view = sgeView([], jobs, new Map(), [])
    expect(view.jobs).toEqual([
      {
        jobid: "1045",
        name: "job_RQ",
        owner: "vagrant",
        queue: "general.q",
        account: null,
        property: null,
        priority: 0.25,
        state: JobState.Queued,
        requested_cores: 1,
        cores_per_node: 1,
        requested_mem: null,
        requested_walltime: "360",
        creation_time: String(Math.floor(Date.parse("2018-10-09T18:47:05") / 1000)),
        extra_attributes: { state: "qw", project: "project_b", hard_req_queue: "general.q" }
      },
      expect.objectContaining({ jobid: "1046", extra_attributes: expect.objectContaining({ tasks: "1-10:2" }) })
    ])
    expect(sgeView([], jobs, new Map(), ["general.q"]).jobs).toHaveLength(2)
    expect(sgeView([], jobs, new Map(), ["other.q"]).jobs).toHaveLength(0)
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseQstat, [fixture("sge/qstat_r_xml_ood_core.xml")])
  })
})

describe.skipIf(!haveFixtures)("parseQstat on sge/qstat_xml_f_starcluster_192jobs.xml", () => {
  const jobs = haveFixtures ? right(parseQstat(fixture("sge/qstat_xml_f_starcluster_192jobs.xml"))) : []

  it("reads the 4 running and 188 pending 20-slot jobs", () => {
    expect(jobs).toHaveLength(192)
    const running = jobs.filter((j) => j.listState === "running")
    expect(running.map((j) => j.id)).toEqual(["385", "386", "387", "388"])
    expect(running[0]).toMatchObject({
      name: "sm-haar-str-kconico-r4-dc10",
      owner: "root",
      prio: 0.555,
      slots: 20,
      queueName: "all.q@domU-12-31-39-0B-C4-C1.compute-1.internal",
      startTime: "2010-07-08T04:40:46"
    })
    const pending = jobs.filter(isQueued)
    expect(pending).toHaveLength(188)
    expect(pending[0]).toMatchObject({ id: "389", name: "sm-haar-str-kconico-r5-dc10", state: "qw", prio: 0.555, slots: 20, queueName: null, pe: null })
    expect(jobs.every((j) => j.slots === 20)).toBe(true)
  })

  it("counts the 188 queued jobs for 20 cores each, on one node when the PE is unknown", () => {
    const view = sgeView([], jobs, new Map(), [])
    expect(view.jobs).toHaveLength(188)
    expect(view.jobs.every((j) => j.requested_cores === 20 && j.cores_per_node === 20 && j.queue === null)).toBe(true)
    expect(view.jobs[0].creation_time).toBe(String(Math.floor(Date.parse("2010-07-08T04:40:32") / 1000)))
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseQstat, [fixture("sge/qstat_xml_f_starcluster_192jobs.xml")])
  })
})

describe.skipIf(!haveFixtures)("parseQstat on sge/qstat_r_xml_j_4147342_ood_core.xml", () => {
  it("refuses qstat -j output (a detailed_job_info document, not a job list)", () => {
    expect(leftMessage(parseQstat(fixture("sge/qstat_r_xml_j_4147342_ood_core.xml")))).toContain("job_info is missing")
  })
})

describe("parseQstat: parallel environments and queue requests", () => {
  const pendingJob = (id: string, inner: string) =>
    `<job_list state="pending"><JB_job_number>${id}</JB_job_number><JAT_prio>0.50000</JAT_prio><JB_name>j${id}</JB_name>` +
    `<JB_owner>bob</JB_owner><state>qw</state><JB_submission_time>2018-12-21T11:47:00</JB_submission_time><slots>1</slots>${inner}</job_list>`
  // Plain qstat -xml -r (no -f): running jobs directly under queue_info.
  const xml =
    "<?xml version='1.0'?><job_info><queue_info>" +
    `<job_list state="running"><JB_job_number>1</JB_job_number><JAT_prio>0.5</JAT_prio><JB_name>sleep</JB_name><JB_owner>root</JB_owner>` +
    `<state>r</state><JAT_start_time>2018-12-21T11:48:00</JAT_start_time><slots>2</slots><requested_pe name="local">2</requested_pe>` +
    `<granted_pe name="local">2</granted_pe><hard_req_queue>main.q</hard_req_queue></job_list>` +
    "</queue_info><job_info>" +
    pendingJob("10", '<requested_pe name="orte">20</requested_pe>') +
    pendingJob("11", '<requested_pe name="smp">8</requested_pe><hard_request name="mem_free" resource_contribution="0.000000">4G</hard_request>') +
    pendingJob("12", '<requested_pe name="four">16</requested_pe><hard_req_queue>all.q@@cloud</hard_req_queue>') +
    pendingJob("13", '<requested_pe name="mystery">6</requested_pe><hard_req_queue>a.q</hard_req_queue><hard_req_queue>b.q</hard_req_queue>') +
    pendingJob("14", "<hard_req_queue>all.q</hard_req_queue>") +
    "</job_info></job_info>"
  const rules = new Map<string, AllocationRule>([
    ["orte", { _tag: "Spread" }],
    ["smp", { _tag: "PeSlots" }],
    ["four", { _tag: "Fixed", perHost: 4 }]
  ])
  const jobs = right(parseQstat(xml))

  it("reads running jobs of plain (non -f) output and the PE requests", () => {
    expect(jobs.map((j) => j.id)).toEqual(["1", "10", "11", "12", "13", "14"])
    expect(jobs[0]).toMatchObject({ listState: "running", pe: { name: "local", slots: 2 }, hardQueue: "main.q" })
    expect(jobs[2]).toMatchObject({ pe: { name: "smp", slots: 8 }, memFree: "4G" })
    expect(jobs[4].hardQueue).toBe("a.q,b.q")
  })

  it("derives cores per node from the PE's allocation rule", () => {
    const view = sgeView([], jobs, rules, [])
    expect(view.jobs.map((j) => [j.jobid, j.requested_cores, j.cores_per_node, j.queue, j.account])).toEqual([
      ["10", 20, 0, null, null],
      ["11", 8, 8, null, null],
      ["12", 16, 4, "all.q", "@cloud"],
      ["13", 6, 6, "a.q", null],
      ["14", 1, 1, "all.q", null]
    ])
    expect(view.jobs[1]).toMatchObject({ requested_mem: "4G", priority: 0.5, extra_attributes: { pe: "smp", pe_slots: 8 } })
  })

  it("monitored queues: a job naming no queue may go anywhere", () => {
    expect(sgeView([], jobs, rules, ["all.q"]).jobs.map((j) => j.jobid)).toEqual(["10", "11", "12", "14"])
  })

  it("helpers", () => {
    expect(splitQueueRequest("all.q@@cloud")).toEqual({ queue: "all.q", account: "@cloud" })
    expect(splitQueueRequest("*@@cloud")).toEqual({ queue: null, account: "@cloud" })
    expect(splitQueueRequest("all.q@wn1")).toEqual({ queue: "all.q", account: null })
    expect(splitQueueRequest(null)).toEqual({ queue: null, account: null })
    expect(sgeTime("1541444183")).toBe("1541444183")
    expect(sgeTime("yesterday")).toBeNull()
  })

  it("empty output is no jobs; garbage is an error naming the path", () => {
    expect(parseQstat("")).toEqual(Either.right([]))
    expect(parseQstat("<job_info></job_info>")).toEqual(Either.right([]))
    expect(parseQstat("<job_info><queue_info></queue_info><job_info></job_info></job_info>")).toEqual(Either.right([]))
    expect(leftMessage(parseQstat("<job_info><job_info><job_list state='pending'><state>qw</state></job_list></job_info></job_info>"))).toContain(
      "JB_job_number is missing"
    )
    expect(leftMessage(parseQstat("<job_info><job_info>" + pendingJob("5", '<requested_pe name="x">many</requested_pe>') + "</job_info></job_info>"))).toContain(
      "requested_pe"
    )
    expect(leftMessage(parseQstat("error: failed receiving gdi request"))).toContain("malformed XML")
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseQstat, [xml])
  })
})

// ---------------------------------------------------------------- qconf

describe.skipIf(!haveFixtures)("parseQconfSp on sge/qconf_sp_orte_starcluster.txt", () => {
  it("reads the PE, its slots and $round_robin (spread: cores_per_node 0)", () => {
    const pe = right(parseQconfSp(fixture("sge/qconf_sp_orte_starcluster.txt")))
    expect(pe).toMatchObject({ name: "orte", slots: 16, allocationRuleText: "$round_robin", allocationRule: { _tag: "Spread" } })
    expect(pe.values).toMatchObject({ control_slaves: "TRUE", job_is_first_task: "FALSE", start_proc_args: "/bin/true" })
    expect(coresPerNodeFor(pe.allocationRule, 16)).toBe(0)
  })

  it("never throws on random, truncated or mutated output", () => {
    expectTotal(parseQconfSp, [fixture("sge/qconf_sp_orte_starcluster.txt")])
  })
})

describe("parseQconfSp / parseQconfSpl: documented forms", () => {
  const pe = (rule: string) =>
    `pe_name            smp\nslots              999\nuser_lists         NONE\nxuser_lists        NONE\n` +
    `start_proc_args    NONE\nstop_proc_args     NONE\nallocation_rule    ${rule}\ncontrol_slaves     FALSE\n` +
    `job_is_first_task  TRUE\nurgency_slots      min\naccounting_summary FALSE\n`

  it.each([
    ["$pe_slots", { _tag: "PeSlots" }, 12],
    ["$fill_up", { _tag: "Spread" }, 0],
    ["$round_robin", { _tag: "Spread" }, 0],
    ["4", { _tag: "Fixed", perHost: 4 }, 4]
  ] as const)("allocation_rule %s", (rule, parsed, perNode) => {
    const p = right(parseQconfSp(pe(rule)))
    expect(p.allocationRule).toEqual(parsed)
    expect(coresPerNodeFor(p.allocationRule, 12)).toBe(perNode)
    expect(p.slots).toBe(999)
  })

  it("joins backslash-continued lines", () => {
    const p = right(parseQconfSp("pe_name mpi\nslots 8\nuser_lists a,\\\n   b\nallocation_rule $fill_up\n"))
    expect(p.values.user_lists).toBe("a,    b")
    expect(p.allocationRule).toEqual({ _tag: "Spread" })
  })

  it("refuses unknown rules and missing lines", () => {
    expect(leftMessage(parseQconfSp(pe("$weird")))).toContain("unknown allocation_rule")
    expect(leftMessage(parseQconfSp("pe_name x\nslots 2\n"))).toContain("no allocation_rule")
    expect(leftMessage(parseQconfSp(""))).toContain("no pe_name")
    expect(leftMessage(parseQconfSp('error: "nope" does not exist\n'))).toContain("line 1")
    expect(parseAllocationRule("0")).toBeNull()
  })

  it("qconf -spl lists names", () => {
    expect(parseQconfSpl("make\norte\nsmp\n")).toEqual(Either.right(["make", "orte", "smp"]))
    expect(parseQconfSpl("")).toEqual(Either.right([]))
    expect(leftMessage(parseQconfSpl("no parallel environment defined\n"))).toContain("line 1")
  })

  it("never throw on random, truncated or mutated output", () => {
    expectTotal(parseQconfSpl, ["make\norte\nsmp\n"])
    expectTotal(parseQconfSp, [pe("$pe_slots")])
  })
})
