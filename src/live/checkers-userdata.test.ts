/**
 * Checkers and user data: real commands through the safe runner and
 * real TCP connections, on 127.0.0.1 only.
 */
import { Effect, Either } from "effect"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { emptyInstance, InstanceState, type Instance } from "../model/types.ts"
import { commandChecker, makeChecker, portChecker, tcpConnect } from "./checkers.ts"
import { makeUserData, renderUserData } from "./userdata.ts"

const scratch = mkdtempSync(join(tmpdir(), "dyncluster-live-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const inst = (over: Partial<Instance> = {}): Instance => ({
  ...emptyInstance("os", 0),
  uuid: "u-1",
  instance_name: "wn-abc",
  state: InstanceState.Active,
  ip: "127.0.0.1",
  dns_name: "wn-abc.example",
  ...over
})

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(Effect.either(e))

describe("user data", () => {
  it("replaces {{ minion_id }} with and without blanks, every occurrence", () => {
    expect(renderUserData("id={{ minion_id }} x={{minion_id}} y={{  minion_id\t}} z={{ other }}", "wn-1")).toBe(
      "id=wn-1 x=wn-1 y=wn-1 z={{ other }}"
    )
    // replacement text is literal, even with $ patterns
    expect(renderUserData("{{minion_id}}", "a$&b")).toBe("a$&b")
  })

  it("fills the caller's extra values ({{ slurm_node }} of slurm-resume); minion_id stays the instance name", () => {
    const t = "id={{ minion_id }} node={{slurm_node}} again={{ slurm_node }} z={{ other }}"
    expect(renderUserData(t, "wn-1", { slurm_node: "cloud$&3", minion_id: "not-this" })).toBe("id=wn-1 node=cloud$&3 again=cloud$&3 z={{ other }}")
    expect(renderUserData(t, "wn-1", {})).toBe("id=wn-1 node={{slurm_node}} again={{ slurm_node }} z={{ other }}")
  })

  it("reads the file at each boot and fails at start-up when it is missing", async () => {
    const f = join(scratch, "ud.sh")
    writeFileSync(f, "#!/bin/sh\necho {{ minion_id }} > /etc/minion_id\n")
    const ud = await Effect.runPromise(makeUserData(f))
    expect(await Effect.runPromise(ud.render("wn-1"))).toBe("#!/bin/sh\necho wn-1 > /etc/minion_id\n")
    writeFileSync(f, "changed {{minion_id}}")
    expect(await Effect.runPromise(ud.render("wn-2"))).toBe("changed wn-2")
    rmSync(f)
    const atBoot = await run(ud.render("wn-3"))
    expect(Either.isLeft(atBoot) && atBoot.left.message).toMatch(/no such file/)

    const missing = await run(makeUserData(join(scratch, "nope.sh")))
    expect(Either.isLeft(missing) && missing.left.message).toMatch(/nope\.sh: no such file/)
    const dir = await run(makeUserData(scratch))
    expect(Either.isLeft(dir) && dir.left.message).toMatch(/not a regular file/)
    expect(await Effect.runPromise(Effect.flatMap(makeUserData(null), (u) => u.render("x")))).toBe("")
  })
})

describe("port checker", () => {
  let server: Server
  let port = 0
  beforeAll(async () => {
    server = createServer((s) => s.end())
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
    port = (server.address() as { port: number }).port
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it("is Ready when the port accepts, not when it refuses", async () => {
    expect(await Effect.runPromise(portChecker(port, 2).check(inst()))).toBe(true)
    // a port nobody listens on: find one by closing a server
    const tmp = createServer()
    await new Promise<void>((r) => tmp.listen(0, "127.0.0.1", () => r()))
    const closed = (tmp.address() as { port: number }).port
    await new Promise<void>((r) => tmp.close(() => r()))
    expect(await Effect.runPromise(portChecker(closed, 2).check(inst()))).toBe(false)
    expect(await Effect.runPromise(tcpConnect("127.0.0.1", closed, 2))).toBe(false)
  })

  it("an instance without an address is a check error, not Ready", async () => {
    const r = await run(portChecker(port).check(inst({ ip: null, dns_name: null })))
    expect(Either.isLeft(r) && r.left.message).toMatch(/no address/)
  })
})

describe("command checker", () => {
  it("exit 0 = Ready, other exit codes = not yet; the values arrive as single arguments", async () => {
    const out = join(scratch, "args.txt")
    const script = join(scratch, "ready.sh")
    writeFileSync(script, `#!/bin/sh\nprintf '%s|' "$@" > ${out}\n[ "$1" = "wn-abc.example" ]\n`)
    chmodSync(script, 0o755)
    expect(await Effect.runPromise(commandChecker(`${script} {0} {1} {2}`).check(inst()))).toBe(true)
    expect(readFileSync(out, "utf8")).toBe("wn-abc.example|127.0.0.1|wn-abc|")
    expect(await Effect.runPromise(commandChecker(`${script} {0}`).check(inst({ dns_name: "other" })))).toBe(false)
  })

  it("a command that hangs is killed after the timeout and reported", async () => {
    const t0 = Date.now()
    const r = await run(commandChecker("sleep 30", 0.3).check(inst()))
    expect(Either.isLeft(r) && r.left.message).toMatch(/timed out/)
    expect(Date.now() - t0).toBeLessThan(5000)
  })

  it("a host name with shell syntax never reaches a command", async () => {
    const r = await run(commandChecker("true {0}").check(inst({ dns_name: "x;rm -rf /" })))
    expect(Either.isLeft(r) && r.left.message).toMatch(/invalid arg/)
  })
})

describe("makeChecker", () => {
  it("builds each kind and refuses what cannot work, naming the key", () => {
    expect(Either.isRight(makeChecker(null))).toBe(true)
    expect(Either.isRight(makeChecker({ port: { number: 22 } }))).toBe(true)
    expect(Either.isRight(makeChecker({ command: { command: "/bin/true {0} {1}" } }))).toBe(true)
    expect(Either.isRight(makeChecker({ plugin: { name: "command", command: "/bin/true {0}" } }))).toBe(true)
    const salt = makeChecker({ plugin: { name: "dynamiccluster.saltchecker.SaltChecker" } })
    expect(Either.isLeft(salt) && salt.left.message).toMatch(/^dynamic-cluster\.config-checker\.plugin\.name: the checker plugin "dynamiccluster\.saltchecker\.SaltChecker" is not available/)
    const bad = makeChecker({ command: { command: "ready {0" } })
    expect(Either.isLeft(bad) && bad.left.message).toMatch(/^dynamic-cluster\.config-checker\.command\.command:/)
    const many = makeChecker({ command: { command: "true {5}" } })
    expect(Either.isLeft(many) && many.left.message).toMatch(/only \{0\}/)
    const both = makeChecker({ port: { number: 22 }, command: { command: "true" } })
    expect(Either.isLeft(both) && both.left.message).toMatch(/give one checker/)
  })
})
