#!/usr/bin/env node
// A recorded Torque/Maui for tests: every output is a real capture from
// ../shared/fixtures (pbsnodes -x, qstat -x, checknode, diagnose -p,
// showres -n), changed only where a command the layer ran changed the
// cluster (a created node, an offline flag, a reservation, a deleted job).
// Mutating commands (qmgr, pbsnodes -o/-c, setres, releaseres, qsig, qdel)
// run here and re-render the outputs; the query wrappers only `cat` them,
// so a query costs one small process per command.
//
//   FAKE_TORQUE_DIR       state.json and render/ (required)
//   FAKE_TORQUE_FIXTURES  the fixtures folder (../shared/fixtures)
//
//   node fake-torque.mjs init                 fresh state from the captures
//   node fake-torque.mjs run-job HOST [CORES] start a job on a created node; prints its id
//   node fake-torque.mjs finish-job ID        the job ends normally
//   node fake-torque.mjs <command> ARGS...    qmgr pbsnodes setres releaseres qsig qdel
import fs from "node:fs"
import path from "node:path"

const dir = process.env.FAKE_TORQUE_DIR
const fixtures = process.env.FAKE_TORQUE_FIXTURES
if (!dir || !fixtures) {
  process.stderr.write("fake-torque: FAKE_TORQUE_DIR and FAKE_TORQUE_FIXTURES must be set\n")
  process.exit(2)
}
const statePath = path.join(dir, "state.json")
const render = path.join(dir, "render")
const fx = (name) => fs.readFileSync(path.join(fixtures, name), "utf8")
const now = () => Math.floor(Date.now() / 1000)

const fresh = () => ({ offline: {}, removed: [], nodes: {}, jobs: {}, deletedJobs: [], reservations: [], resCounter: 0, jobCounter: 9000 })
const load = () => JSON.parse(fs.readFileSync(statePath, "utf8"))
const save = (s) => {
  fs.writeFileSync(statePath + ".tmp", JSON.stringify(s, null, 1))
  fs.renameSync(statePath + ".tmp", statePath)
  renderAll(s)
}

// ------------------------------------------------------------------ rendering

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
const short = (id) => id.split(".")[0]
const hms = (secs) => {
  const h = Math.floor(secs / 3600)
  const m = Math.floor((secs % 3600) / 60)
  const s = secs % 60
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`
}

/** Maui's word for a node, from what pbs_server says about it. */
const mauiState = (pbsState, jobs) => {
  const st = pbsState.split(",")
  if (st.includes("offline")) return jobs.length > 0 ? "Draining" : "Drained"
  if (st.includes("down")) return "Down"
  return jobs.length > 0 ? "Busy" : "Idle"
}

/** The real checknode capture with header, state and job list of another node. */
const checknodeText = (header, state, inState, jobs) =>
  fx("maui/checknode_P690-032.txt")
    .replace(/^node P690-032$/m, header)
    .replace(/^State:\s+Busy\s+\(in current state for [^)]*\)/m, `State:      ${state}  (in current state for ${inState})`)
    .replace(/^JobList:.*$/m, `JobList:  ${jobs.length > 0 ? jobs.join(",") : "[NONE]"}`)

const createdNodeXml = (name, n) => {
  const jobs = n.jobs.flatMap((id) => Array.from({ length: id.cores }, () => id.id))
  const slots = jobs.map((id, i) => `${i}/${id}`).join(", ")
  const status = `rectime=${n.changed},varattr=,jobs=${n.jobs.map((j) => j.id).join(" ")},state=${n.state === "down" ? "down" : "free"},netload=0,gres=,loadave=0.00,ncpus=${n.np},physmem=4030000kb,availmem=3900000kb,totmem=4030000kb,idletime=10,nusers=0,nsessions=0,uname=Linux ${name} 5.10.0 #1 SMP x86_64,opsys=linux`
  return (
    `<Node><name>${esc(name)}</name><state>${esc(n.state)}</state><np>${n.np}</np>` +
    (n.properties.length > 0 ? `<properties>${esc(n.properties.join(","))}</properties>` : "") +
    `<ntype>cluster</ntype>` +
    (slots ? `<jobs>${esc(slots)}</jobs>` : "") +
    (n.state.includes("down") ? "" : `<status>${esc(status)}</status>`) +
    `<gpus>0</gpus></Node>`
  )
}

const jobXml = (j) =>
  `<Job><Job_Id>${esc(j.id)}</Job_Id><Job_Name>contract</Job_Name><Job_Owner>tester@head.example.org</Job_Owner>` +
  `<job_state>${j.state}</job_state><queue>batch</queue><server>head.example.org</server><ctime>${j.ctime}</ctime>` +
  `<exec_host>${esc(j.host)}/0</exec_host><Resource_List><nodect>1</nodect><nodes>1:ppn=${j.cores}</nodes><walltime>01:00:00</walltime></Resource_List></Job>`

const renderAll = (s) => {
  fs.mkdirSync(path.join(render, "checknode"), { recursive: true })
  fs.mkdirSync(path.join(render, "pbsnodes"), { recursive: true })
  for (const f of fs.readdirSync(path.join(render, "checknode"))) fs.rmSync(path.join(render, "checknode", f))
  for (const f of fs.readdirSync(path.join(render, "pbsnodes"))) fs.rmSync(path.join(render, "pbsnodes", f))
  const deleted = new Set(s.deletedJobs)

  // pbsnodes -x: the capture's nodes (offline flags, deleted jobs, removed nodes applied) + created nodes
  const pbs = fx("torque/pbsnodes_x_64nodes.xml")
  const parts = []
  for (const m of pbs.matchAll(/<Node>.*?<\/Node>/gs)) {
    let xml = m[0]
    const name = /<name>([^<]*)<\/name>/.exec(xml)[1]
    if (s.removed.includes(name)) continue
    xml = xml.replace(/<jobs>([^<]*)<\/jobs>/, (_all, list) => {
      const kept = list.split(", ").filter((slot) => !deleted.has(short(slot.split("/")[1])))
      return kept.length > 0 ? `<jobs>${kept.join(", ")}</jobs>` : ""
    })
    const hasJobs = /<jobs>/.test(xml)
    if (name in s.offline) {
      xml = xml.replace(/<state>([^<]*)<\/state>/, (_all, st) => {
        const rest = st.split(",").filter((x) => x !== "offline" && x !== "free")
        const base = s.offline[name] ? ["offline", ...rest] : rest.length > 0 ? rest : [hasJobs ? "job-exclusive" : "free"]
        return `<state>${base.join(",")}</state>`
      })
    } else if (!hasJobs) {
      xml = xml.replace("<state>job-exclusive</state>", "<state>free</state>")
    }
    const state = /<state>([^<]*)<\/state>/.exec(xml)[1]
    const jobs = [...new Set([...(xml.match(/<jobs>([^<]*)<\/jobs>/)?.[1] ?? "").matchAll(/\/(\d+)/g)].map((x) => x[1]))]
    parts.push(xml)
    fs.writeFileSync(path.join(render, "pbsnodes", name), `<Data>${xml}</Data>`)
    fs.writeFileSync(path.join(render, "checknode", name), checknodeText(`node ${name}`, mauiState(state, jobs), "11:31:10", jobs))
  }
  for (const [name, n] of Object.entries(s.nodes)) {
    const xml = createdNodeXml(name, n)
    parts.push(xml)
    fs.writeFileSync(path.join(render, "pbsnodes", name), `<Data>${xml}</Data>`)
    const jobs = n.jobs.map((j) => short(j.id))
    fs.writeFileSync(
      path.join(render, "checknode", name),
      checknodeText(`checking node ${name}`, mauiState(n.state, jobs), hms(Math.max(0, now() - n.changed)), jobs)
    )
  }
  fs.writeFileSync(path.join(render, "pbsnodes.xml"), `<Data>${parts.join("")}</Data>`)

  // qstat -x -t: the capture's jobs minus deleted ones, plus the jobs started here
  let qstat = fx("torque/qstat_x_fyrd_stanford.xml")
  qstat = qstat.replace(/<Job>.*?<\/Job>/gs, (job) => (deleted.has(short(/<Job_Id>([^<]*)<\/Job_Id>/.exec(job)[1])) ? "" : job))
  qstat = qstat.replace("</Data>", Object.values(s.jobs).map(jobXml).join("") + "</Data>")
  fs.writeFileSync(path.join(render, "qstat.xml"), qstat)

  // diagnose -p: the capture as it is
  fs.writeFileSync(path.join(render, "diagnose.txt"), fx("maui/diagnose_p.txt"))

  // showres -n: the capture with the standing reservations set here added as rows
  const rows = s.reservations.map(
    (r) => `${r.host.padEnd(16)} User ${r.id.padStart(18)}        N/A    1    -00:01:00    INFINITY  Thu Sep  1 16:48:59`
  )
  const showres = fx("maui/showres_n.txt").replace(/\n \n(\d+) nodes reserved/, (_all, n) => `\n${rows.map((r) => r + "\n").join("")} \n${Number(n) + rows.length} nodes reserved`)
  fs.writeFileSync(path.join(render, "showres.txt"), showres)
}

// ------------------------------------------------------------------ commands

const fail = (msg, code = 1) => {
  process.stderr.write(msg + "\n")
  process.exit(code)
}
const fixtureNodeNames = () => [...fx("torque/pbsnodes_x_64nodes.xml").matchAll(/<name>([^<]*)<\/name>/g)].map((m) => m[1])
const known = (s, host) => host in s.nodes || (fixtureNodeNames().includes(host) && !s.removed.includes(host))
const findJob = (s, id) => Object.values(s.jobs).find((j) => j.id === id || short(j.id) === id)
const torqueDown = () => fs.existsSync(path.join(dir, "torque-down"))
const mauiDown = () => fs.existsSync(path.join(dir, "maui-down"))

const qmgr = (s, args) => {
  if (torqueDown()) fail("socket_connect_unix failed: 15137\nqmgr: cannot connect to server  (errno=15137) could not connect to trqauthd")
  if (args[0] !== "-c" || args.length !== 2) fail(`qmgr: unsupported arguments ${JSON.stringify(args)}`, 2)
  const w = args[1].trim().split(/\s+/)
  const [verb, obj, host] = w
  if (obj !== "node" || !host) fail(`qmgr: Syntax error: ${args[1]}`, 2)
  if (verb === "create") {
    if (known(s, host)) fail(`qmgr obj=${host} svr=default: Node name already exists`)
    s.nodes[host] = { np: 1, state: "down", properties: [], jobs: [], changed: now() }
    // Maui learns about a new node at its next iteration: the first checknode does not see it yet.
    fs.mkdirSync(path.join(dir, "lag"), { recursive: true })
    fs.writeFileSync(path.join(dir, "lag", host), String(Number(process.env.FAKE_MAUI_LAG ?? "1")))
  } else if (verb === "delete") {
    if (host in s.nodes) delete s.nodes[host]
    else if (known(s, host)) s.removed.push(host)
    else fail(`qmgr obj=${host} svr=default: Unknown node`)
    s.reservations = s.reservations.filter((r) => r.host !== host)
  } else if (verb === "set") {
    const [, , , attr, op, ...valueWords] = w
    const value = valueWords.join(" ")
    if (!known(s, host)) fail(`qmgr obj=${host} svr=default: Unknown node`)
    const n = s.nodes[host]
    if (n === undefined) fail(`fake-torque: only created nodes can be changed with qmgr`, 2)
    if (attr === "np" && op === "=" && /^\d+$/.test(value)) n.np = Number(value)
    else if (attr === "properties" && op === "=") n.properties = value.split(",").filter((p) => p !== "")
    else if (attr === "properties" && op === "+=") n.properties = [...new Set([...n.properties, value])]
    else if (attr === "state" && op === "=" && value === "free") n.state = "free"
    else fail(`qmgr obj=${host} svr=default: Illegal attribute or resource value for ${attr}`)
    n.changed = now()
  } else fail(`qmgr: Syntax error: ${args[1]}`, 2)
}

const pbsnodes = (s, args) => {
  if (torqueDown()) fail("pbsnodes: cannot connect to server head.example.org, error=111 (Connection refused)")
  const [flag, host] = args
  if ((flag !== "-o" && flag !== "-c") || !host || args.length !== 2) fail(`fake-torque: unsupported pbsnodes arguments ${JSON.stringify(args)}`, 2)
  if (!known(s, host)) fail(`pbsnodes: Unknown node  MSG=cannot locate specified node`)
  const n = s.nodes[host]
  if (n !== undefined) {
    const base = n.state.split(",").filter((x) => x !== "offline")
    n.state = (flag === "-o" ? ["offline", ...base.filter((x) => x !== "free")] : base.length > 0 ? base : ["free"]).join(",")
    if (flag === "-c" && n.state === "") n.state = "free"
    n.changed = now()
  } else {
    s.offline[host] = flag === "-o"
  }
}

const setres = (s, args) => {
  if (mauiDown()) fail("ERROR:    cannot connect to Maui server 'head.example.org'")
  const [kind, name, host] = args
  if ((kind !== "-q" && kind !== "-a") || !name || !host || args.length !== 3) fail(`ERROR:    invalid arguments ${JSON.stringify(args)}`, 2)
  if (!known(s, host)) fail(`ERROR:    cannot locate node '${host}'`)
  const id = `${name}.${s.resCounter++}`
  s.reservations.push({ host, name, id, kind })
  process.stdout.write(`reservation '${id}' created\n`)
}

const releaseres = (s, args) => {
  if (mauiDown()) fail("ERROR:    cannot connect to Maui server 'head.example.org'")
  if (args.length === 0) fail("ERROR:    no reservation specified")
  for (const id of args) {
    const before = s.reservations.length
    s.reservations = s.reservations.filter((r) => r.id !== id)
    if (s.reservations.length === before) fail(`ERROR:    cannot locate reservation '${id}'`)
    process.stdout.write(`released User reservation '${id}'\n`)
  }
}

const qsig = (s, args) => {
  if (torqueDown()) fail("qsig: cannot connect to server head.example.org, error=111 (Connection refused)")
  if (args[0] !== "-s" || args.length !== 3) fail(`qsig: unsupported arguments ${JSON.stringify(args)}`, 2)
  const j = findJob(s, args[2])
  if (j === undefined) fail(`qsig: Unknown Job Id ${args[2]}`, 153)
  if (j.state !== "R") fail(`qsig: Request invalid for state of job MSG=job is not running ${args[2]}`, 171)
  if (args[1] === "9" || args[1] === "SIGKILL") j.state = "E"
}

const qdel = (s, args) => {
  if (torqueDown()) fail("qdel: cannot connect to server head.example.org, error=111 (Connection refused)")
  if (args[0] !== "-p" || args.length !== 2) fail(`qdel: unsupported arguments ${JSON.stringify(args)}`, 2)
  const id = args[1]
  const j = findJob(s, id)
  if (j !== undefined) {
    delete s.jobs[j.id]
    for (const n of Object.values(s.nodes)) n.jobs = n.jobs.filter((x) => x.id !== j.id)
    return
  }
  const inCapture = new RegExp(`[>/ ]${id.replace(/[[\]]/g, "\\$&")}\\.`).test(fx("torque/qstat_x_fyrd_stanford.xml") + fx("torque/pbsnodes_x_64nodes.xml"))
  if (!inCapture || s.deletedJobs.includes(id)) fail(`qdel: Unknown Job Id ${id}`, 153)
  s.deletedJobs.push(id)
}

const runJob = (s, [host, cores = "1"]) => {
  const n = s.nodes[host]
  if (n === undefined || n.state !== "free") fail(`fake-torque: ${host} is not a free created node (${n?.state})`, 2)
  const id = `${++s.jobCounter}.head.example.org`
  const job = { id, host, cores: Number(cores), state: "R", ctime: now() }
  s.jobs[id] = job
  n.jobs.push({ id, cores: job.cores })
  n.changed = now()
  process.stdout.write(short(id) + "\n")
}

const finishJob = (s, [id]) => {
  const j = findJob(s, id)
  if (j === undefined) fail(`fake-torque: no job ${id}`, 2)
  delete s.jobs[j.id]
  for (const n of Object.values(s.nodes)) if (n.jobs.some((x) => x.id === j.id)) {
    n.jobs = n.jobs.filter((x) => x.id !== j.id)
    n.changed = now()
  }
}

const [cmd, ...args] = process.argv.slice(2)
if (cmd === "init") {
  fs.mkdirSync(dir, { recursive: true })
  for (const f of ["lag", "render"]) fs.rmSync(path.join(dir, f), { recursive: true, force: true })
  save(fresh())
} else {
  const s = load()
  const handlers = { qmgr, pbsnodes, setres, releaseres, qsig, qdel, "run-job": runJob, "finish-job": finishJob }
  const h = handlers[cmd]
  if (h === undefined) fail(`fake-torque: unknown command ${cmd}`, 2)
  h(s, args)
  save(s)
}
