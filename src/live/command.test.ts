import { Effect, Either } from "effect"
import fc from "fast-check"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import {
  buildInvocation,
  CommandError,
  invocationArgv,
  runCommand,
  runCommandOk,
  runInvocation,
  splitTemplate,
  toClusterError,
  validateArg,
  validateHostgroup,
  validateHostname,
  validateIp,
  validateJobId,
  validateName,
  validateOption,
  type SplitTemplate
} from "./command.ts"

const split = (t: string): SplitTemplate =>
  Either.getOrThrowWith(splitTemplate(t), (e) => new Error(`${t}: ${e.message}`))
const argvOf = (t: string) => {
  const s = split(t)
  if (s.kind !== "argv") throw new Error(`${t} needs a shell`)
  return s.argv
}
const scriptOf = (t: string) => {
  const s = split(t)
  if (s.kind !== "shell") throw new Error(`${t} does not need a shell`)
  return s.script
}
const build = (t: string, values: ReadonlyArray<string>) =>
  invocationArgv(Either.getOrThrowWith(buildInvocation(t, values), (e) => new Error(e.message)))

const scratch = mkdtempSync(join(tmpdir(), "dyncluster-cmd-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe("splitTemplate: the default templates of SPEC §2", () => {
  it.each([
    ["qstat -x -t", ["qstat", "-x", "-t"]],
    ["pbsnodes {0} {1}", ["pbsnodes", "{0}", "{1}"]],
    ['qmgr -c "create node {0}"', ["qmgr", "-c", "create node {0}"]],
    ["checknode {0}", ["checknode", "{0}"]],
    ['qmgr -c "delete node {0}"', ["qmgr", "-c", "delete node {0}"]],
    ['qmgr -c "set node {0} {1} {2} {3}"', ["qmgr", "-c", "set node {0} {1} {2} {3}"]],
    ["diagnose -p", ["diagnose", "-p"]],
    ["setres {0} {1} {2}", ["setres", "{0}", "{1}", "{2}"]],
    ["qdel -p {0}", ["qdel", "-p", "{0}"]],
    ["qsig -s {0} {1}", ["qsig", "-s", "{0}", "{1}"]],
    ["qstat -xml -r", ["qstat", "-xml", "-r"]],
    ["qhost -q -j -xml {0} {1}", ["qhost", "-q", "-j", "-xml", "{0}", "{1}"]],
    ["qconf {0} hostgroup hostlist {1} {2}", ["qconf", "{0}", "hostgroup", "hostlist", "{1}", "{2}"]],
    ["qmod {0} *@{1}", ["qmod", "{0}", "*@{1}"]],
    ["qconf -de {0}", ["qconf", "-de", "{0}"]],
    ["qconf -rattr queue slots {0} {1}@{2}", ["qconf", "-rattr", "queue", "slots", "{0}", "{1}@{2}"]],
    ["qconf -purge queue slots {0}@{1}", ["qconf", "-purge", "queue", "slots", "{0}@{1}"]],
    ["qconf -spl", ["qconf", "-spl"]],
    ["qconf -sp {0}", ["qconf", "-sp", "{0}"]],
    ["qdel -f {0}", ["qdel", "-f", "{0}"]]
  ])("%s", (template, argv) => {
    expect(argvOf(template)).toEqual(argv)
  })
})

describe("splitTemplate: the seed's templates (seed/restapi.md GET /server/config)", () => {
  it.each([
    ['/usr/bin/qmgr -c "create node {0}"', ["/usr/bin/qmgr", "-c", "create node {0}"]],
    ["/usr/bin/checknode {0}", ["/usr/bin/checknode", "{0}"]],
    ["/usr/bin/qdel -p {0}", ["/usr/bin/qdel", "-p", "{0}"]],
    ["/usr/bin/diagnose -p", ["/usr/bin/diagnose", "-p"]],
    ["/usr/bin/pbsnodes {0} {1}", ["/usr/bin/pbsnodes", "{0}", "{1}"]],
    ["/usr/bin/qstat -x -t", ["/usr/bin/qstat", "-x", "-t"]],
    ['/usr/bin/qmgr -c "delete node {0}"', ["/usr/bin/qmgr", "-c", "delete node {0}"]],
    ['/usr/bin/qmgr -c "set node {0} {1} {2} {3}"', ["/usr/bin/qmgr", "-c", "set node {0} {1} {2} {3}"]],
    ["/usr/bin/setres {0} {1} {2}", ["/usr/bin/setres", "{0}", "{1}", "{2}"]],
    ["/usr/bin/qsig -s {0} {1}", ["/usr/bin/qsig", "-s", "{0}", "{1}"]],
    ["/etc/dynamiccluster/wn.sh -a {0} {1} {2}", ["/etc/dynamiccluster/wn.sh", "-a", "{0}", "{1}", "{2}"]],
    ["/etc/dynamiccluster/wn.sh -d {0} {1} {2}", ["/etc/dynamiccluster/wn.sh", "-d", "{0}", "{1}", "{2}"]]
  ])("%s", (template, argv) => {
    expect(argvOf(template)).toEqual(argv)
  })

  it("showres_command has a pipe: it runs under /bin/sh with the host as $1", () => {
    expect(scriptOf("/usr/bin/showres -n | grep {0}")).toBe('/usr/bin/showres -n | grep "${1}"')
  })

  it("releaseres_command has back-quotes and {{print $3}}: /bin/sh with positional parameters, braces unescaped", () => {
    const t = "/usr/bin/releaseres `/usr/bin/showres -n | grep User | grep {0} | grep {1} | awk '{{print $3}}' `"
    const s = split(t)
    expect(s).toMatchObject({ kind: "shell", placeholders: 2 })
    expect(scriptOf(t)).toBe(
      "/usr/bin/releaseres `/usr/bin/showres -n | grep User | grep \"${1}\" | grep \"${2}\" | awk '{print $3}' `"
    )
    expect(build(t, ["wn-1", "dynamicwn"])).toEqual(["/bin/sh", "-c", scriptOf(t), "sh", "wn-1", "dynamicwn"])
  })
})

describe("splitTemplate: quoting and placeholders", () => {
  it("follows POSIX shell quoting", () => {
    expect(argvOf(`a 'b c' "d e" f\\ g "h\\"i" 'j"k' l""m ''`)).toEqual(["a", "b c", "d e", "f g", 'h"i', 'j"k', "lm", ""])
    expect(argvOf("  spaced\t\targs  ")).toEqual(["spaced", "args"])
  })

  it("keeps glob characters literal (no shell, no expansion)", () => {
    expect(build("qmod {0} *@{1}", ["-d", "wn1"])).toEqual(["qmod", "-d", "*@wn1"])
  })

  it("treats {{ and }} as literal braces, as Python's str.format does", () => {
    expect(build("awk {{print}} {0}", ["f"])).toEqual(["awk", "{print}", "f"])
  })

  it("quotes placeholders for their context in shell scripts", () => {
    expect(scriptOf("echo {0} | cat")).toBe('echo "${1}" | cat')
    expect(scriptOf(`echo "x {0} y" | cat`)).toBe('echo "x ${1} y" | cat')
    expect(scriptOf("echo 'x {0} y' | cat")).toBe(`echo 'x '"\${1}"' y' | cat`)
    expect(scriptOf("echo `echo {0}`")).toBe('echo `echo "${1}"`')
    expect(scriptOf('echo "$(echo {0})"')).toBe('echo "$(echo "${1}")"')
    expect(scriptOf("a {10} b; c")).toBe('a "${11}" b; c')
  })

  it.each([
    "grep x > out",
    "a && b",
    "a; b",
    "a || b",
    "cat < in",
    "echo $(id)",
    "echo `id`",
    "echo $HOME",
    'echo "$HOME"',
    "(subshell)"
  ])("%s needs a shell", (t) => {
    expect(split(t).kind).toBe("shell")
  })

  it.each(["echo '|;&&>'", 'echo "a|b;c"', "echo \\|", "echo 'a $(id) b'", "echo $", "price 5$"])(
    "%s has its shell characters quoted: plain argv",
    (t) => {
      expect(split(t).kind).toBe("argv")
    }
  )

  it.each([
    ["", "empty"],
    ["   ", "empty"],
    ["echo 'open", "unterminated single quote"],
    ['echo "open', "unterminated double quote"],
    ["echo {name}", "numbered placeholders"],
    ["echo {}", "numbered placeholders"],
    ["echo {0", "numbered placeholders"],
    ["echo }", "single '}'"],
    ["{0} -x", "program name"],
    ["echo `open | cat", "unterminated back-quote"],
    ["echo $(open | cat", "unterminated $("],
    ["echo \\{0} | cat", "backslash"]
  ])("refuses %j", (t, why) => {
    const r = splitTemplate(t)
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) expect(r.left.message).toContain(why)
  })

  it("never throws, whatever the template", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (t) => {
        const r = splitTemplate(t)
        expect(Either.isEither(r)).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })
})

describe("buildInvocation", () => {
  it("substitutes a value into exactly one argument", () => {
    expect(build('/usr/bin/qmgr -c "create node {0}"', ["wn-1.example.org"])).toEqual([
      "/usr/bin/qmgr",
      "-c",
      "create node wn-1.example.org"
    ])
    expect(build('/usr/bin/qmgr -c "set node {0} {1} {2} {3}"', ["wn1", "np", "=", "4"])).toEqual([
      "/usr/bin/qmgr",
      "-c",
      "set node wn1 np = 4"
    ])
    expect(build("checknode {0}", ["a b; c"])).toEqual(["checknode", "a b; c"])
  })

  it("drops an unquoted word that comes out empty, keeps a quoted one", () => {
    expect(build("/usr/bin/pbsnodes {0} {1}", ["-x", ""])).toEqual(["/usr/bin/pbsnodes", "-x"])
    expect(build("qhost -q -j -xml {0} {1}", ["", ""])).toEqual(["qhost", "-q", "-j", "-xml"])
    expect(build('echo "{0}" x', [""])).toEqual(["echo", "", "x"])
  })

  it("refuses too few values", () => {
    const r = buildInvocation("setres {0} {1} {2}", ["-q", "default"])
    expect(Either.isLeft(r) && r.left.message).toContain("{2}")
  })

  it("never lets a value add arguments (property)", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const argv = build('qmgr -c "set node {0} np = 4" {1}', [a, b])
        expect(argv.slice(0, 3)).toEqual(["qmgr", "-c", `set node ${a} np = 4`])
        expect(argv.length).toBe(b === "" ? 3 : 4)
        if (b !== "") expect(argv[3]).toBe(b)
      })
    )
  })
})

describe("validators", () => {
  const evil = ["x;touch /tmp/pwned", "$(id)", "`id`", "a b", "a\nb", "-rf", "--help", "", "a|b", "a&b", "a>b", "'a'", '"a"', "a\\b", "\u0000"]

  it.each(evil)("refuse the host name %j", (v) => {
    expect(Either.isLeft(validateHostname(v))).toBe(true)
  })

  it("accept ordinary values", () => {
    for (const h of ["wn-1", "wn1.cloud.example.org", "10.0.0.5", "n_01", "vm-ip-10-0-76-39"]) expect(validateHostname(h)).toEqual(Either.right(h))
    for (const j of ["13", "665199.superserver.stanford.edu", "673175[19]", "673175[].server"]) expect(validateJobId(j)).toEqual(Either.right(j))
    for (const n of ["default", "all.q", "os-res", "ACC_01", "bigmem"]) expect(validateName(n)).toEqual(Either.right(n))
    expect(validateHostgroup("@cloud")).toEqual(Either.right("@cloud"))
    for (const o of ["-x", "-o", "-c", "-aattr", "-dattr", "-q", "-a"]) expect(validateOption(o)).toEqual(Either.right(o))
    for (const ip of ["10.1.2.3", "fe80::1", "2001:db8::42"]) expect(validateIp(ip)).toEqual(Either.right(ip))
  })

  it("refuse shell characters in every kind", () => {
    for (const v of ["a;b", "$(id)", "a b", "`id`"]) {
      for (const check of [validateJobId, validateName, validateHostgroup, validateOption, validateIp, validateArg]) {
        expect(Either.isLeft(check(v))).toBe(true)
      }
    }
  })

  it("a host name that passes never contains shell syntax (property)", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        if (Either.isRight(validateHostname(s))) expect(s).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/)
      }),
      { numRuns: 2000 }
    )
  })
})

describe("runCommand: nothing a value holds is ever run", () => {
  it("refuses a host name like x;touch /tmp/pwned before running anything", async () => {
    const target = join(scratch, "pwned-refused")
    const r = await Effect.runPromise(Effect.either(runCommand("checknode {0}", [`x;touch ${target}`])))
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) {
      expect(r.left).toBeInstanceOf(CommandError)
      expect(r.left.reason).toBe("invalid-value")
    }
    const r2 = await Effect.runPromise(Effect.either(runCommand("echo {0} | cat", [`$(touch ${target})`])))
    expect(Either.isLeft(r2) && r2.left.reason).toBe("invalid-value")
    expect(existsSync(target)).toBe(false)
  })

  it("passes a hostile value to the sh -c path as data: echo {0} | cat prints it literally", async () => {
    const target = join(scratch, "x")
    const value = `$(touch ${target})`
    const inv = Either.getOrThrow(buildInvocation("echo {0} | cat", [value]))
    expect(inv.file).toBe("/bin/sh")
    expect(inv.args[1]).not.toContain(target)
    const r = await Effect.runPromise(runInvocation(inv))
    expect(r.stdout).toBe(value)
    expect(r.exitCode).toBe(0)
    expect(existsSync(target)).toBe(false)
  })

  it.each([
    ["echo {0} | cat", "x;touch TARGET"],
    ["echo '{0}' | cat", "'; touch TARGET; echo '"],
    ['echo "{0}" | cat', '"; touch TARGET; echo "'],
    ["echo `echo {0}` | cat", "$(touch TARGET)"],
    ["echo $(echo {0}) | cat", "`touch TARGET`"],
    ["echo {0} {1} | cat", "$(touch TARGET)"]
  ])("%s with %j runs nothing", async (template, raw) => {
    const target = join(scratch, `t-${Math.abs(hash(template + raw))}`)
    const value = raw.replace("TARGET", target)
    const inv = Either.getOrThrow(buildInvocation(template, [value, "second"]))
    const r = await Effect.runPromise(runInvocation(inv))
    expect(r.stdout).toContain(value)
    expect(existsSync(target)).toBe(false)
  })

  it("passes a hostile value to the argv path as one argument", async () => {
    const target = join(scratch, "argv")
    const value = `; touch ${target} $(touch ${target}) | touch ${target}`
    const r = await Effect.runPromise(runInvocation(Either.getOrThrow(buildInvocation("echo {0}", [value]))))
    expect(r.stdout).toBe(value)
    expect(existsSync(target)).toBe(false)
  })

  it("prints any string value unchanged through sh -c and through argv (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }).filter((s) => !s.includes("\u0000")), async (value) => {
        for (const template of ["printf %s {0} | cat", "printf %s {0}"]) {
          const r = await Effect.runPromise(runInvocation(Either.getOrThrow(buildInvocation(template, [value]))))
          expect(r.stdout).toBe(value)
        }
      }),
      { numRuns: 40 }
    )
  })
})

describe("runCommand: results and failures", () => {
  it("succeeds with stdout, stderr and exit code", async () => {
    const r = await Effect.runPromise(runCommand("echo {0}", ["hello-1"]))
    expect(r).toEqual({ stdout: "hello-1", stderr: "", exitCode: 0 })
  })

  it("returns a non-zero exit code as a result; runCommandOk fails on it", async () => {
    const t = "/bin/sh -c 'echo oops >&2; exit 3'"
    expect(split(t).kind).toBe("argv")
    const r = await Effect.runPromise(runCommand(t))
    expect(r).toEqual({ stdout: "", stderr: "oops", exitCode: 3 })
    const e = await Effect.runPromise(Effect.flip(runCommandOk(t)))
    expect(e).toMatchObject({ _tag: "CommandError", reason: "exit", exitCode: 3, stderr: "oops", timedOut: false })
    expect(e.argv).toEqual(["/bin/sh", "-c", "echo oops >&2; exit 3"])
  })

  it("fails with reason spawn when the program does not exist", async () => {
    const e = await Effect.runPromise(Effect.flip(runCommand("/nonexistent/dyncluster-prog {0}", ["a"])))
    expect(e).toMatchObject({ reason: "spawn", exitCode: null, timedOut: false })
    expect(e.argv).toEqual(["/nonexistent/dyncluster-prog", "a"])
  })

  it("kills a command that runs past its timeout", async () => {
    const e = await Effect.runPromise(Effect.flip(runCommand("sleep 10", [], { timeoutMs: 200 })))
    expect(e).toMatchObject({ reason: "timeout", timedOut: true, exitCode: null })
  })

  it("fails with reason template on a malformed template", async () => {
    const e = await Effect.runPromise(Effect.flip(runCommand("echo 'open", [])))
    expect(e.reason).toBe("template")
  })

  it("maps into the Cluster service's error", async () => {
    const e = await Effect.runPromise(Effect.flip(runCommand("/nonexistent/x", [])))
    const c = toClusterError("query")(e)
    expect(c).toMatchObject({ _tag: "ClusterError", op: "query" })
    expect(c.cause).toBe(e)
  })
})

function hash(s: string): number {
  let h = 0
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0
  return h
}
