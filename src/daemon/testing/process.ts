/** Test helper: runs `node bin/dyncluster.js ...` as a real process and reads its output line by line. */
import { spawn, type ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"

export const REPO = fileURLToPath(new URL("../../../", import.meta.url))
export const BIN = fileURLToPath(new URL("../../../bin/dyncluster.js", import.meta.url))

export interface Daemon {
  readonly child: ChildProcess
  readonly stdout: Array<string>
  readonly stderr: Array<string>
  /** Resolves with the first stdout line that satisfies `pred` (rejects when the process exits first or after `ms`). */
  readonly waitForLine: (pred: (line: string) => boolean, ms: number) => Promise<string>
  /** Resolves with the exit code (null if killed by a signal) and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly kill: (signal?: NodeJS.Signals) => void
}

export const startDyncluster = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Daemon => {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: { ...process.env, ...env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const stdout: Array<string> = []
  const stderr: Array<string> = []
  const waiters: Array<() => void> = []
  const lines = (into: Array<string>) => {
    let buf = ""
    return (b: Buffer) => {
      buf += b.toString("utf8")
      let i: number
      while ((i = buf.indexOf("\n")) >= 0) {
        into.push(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
      for (const w of waiters.splice(0)) w()
    }
  }
  child.stdout!.on("data", lines(stdout))
  child.stderr!.on("data", lines(stderr))
  let done = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      done = true
      for (const w of waiters.splice(0)) w()
      resolve({ code, signal })
    })
  )
  const waitForLine = (pred: (line: string) => boolean, ms: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such line within ${ms} ms; stdout:\n${stdout.join("\n")}\nstderr:\n${stderr.join("\n")}`)), ms)
      const check = () => {
        const hit = stdout.find(pred)
        if (hit !== undefined) {
          clearTimeout(timer)
          resolve(hit)
        } else if (done) {
          clearTimeout(timer)
          reject(new Error(`the process exited; stdout:\n${stdout.join("\n")}\nstderr:\n${stderr.join("\n")}`))
        } else waiters.push(check)
      }
      check()
    })
  return { child, stdout, stderr, waitForLine, exited, kill: (s = "SIGTERM") => void child.kill(s) }
}
