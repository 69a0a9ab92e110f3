/**
 * Runs the variant × seed tasks of `simulate --seeds` on every core: child
 * processes running src/cli/seeds-worker.ts (through tsx from the sources,
 * as `soak` starts its workers), or in this process for one worker. The
 * results come back in task order, so the output does not depend on which
 * worker ran what.
 */
import { fork, type ChildProcess } from "node:child_process"
import { Effect, Either } from "effect"
import { decodeScenarioAt } from "../sim/scenario.ts"
import type { Summary } from "../sim/summary.ts"
import { Progress, runOne } from "./simulate.ts"

export interface SeedTask {
  readonly id: number
  readonly path: string
  /** The scenario document with the variant's --set values applied. */
  readonly doc: unknown
  readonly seed: number
  readonly policy: string | undefined
  readonly allowUnknownKeys: boolean
  /** Return the event log too (for the report's charts). */
  readonly keep: boolean
}

export interface SeedResult {
  readonly summary?: Summary
  readonly stalled?: string | null
  readonly error?: string
  readonly events?: ReadonlyArray<string>
}

/** One task, in this process, as `simulate` runs one (runOne). */
export const runSeedTask = async (t: SeedTask): Promise<SeedResult> => {
  const sc = decodeScenarioAt(t.path, t.doc, { seed: t.seed, allowUnknownKeys: t.allowUnknownKeys })
  if (Either.isLeft(sc)) return { error: sc.left.message }
  const r = await Effect.runPromise(runOne(sc.right, t.policy, { writer: null, keep: t.keep, progress: new Progress(false, 0), label: "" }))
  return { summary: r.summary, stalled: r.stalled, ...(t.keep ? { events: r.events } : {}) }
}

export const runSeedTasks = async (tasks: ReadonlyArray<SeedTask>, workers: number, onDone?: (done: number) => void): Promise<Array<SeedResult>> => {
  const results: Array<SeedResult> = new Array(tasks.length)
  let done = 0
  if (workers <= 1 || tasks.length <= 1) {
    for (const t of tasks) {
      results[t.id] = await runSeedTask(t)
      onDone?.(++done)
    }
    return results
  }
  const compiled = import.meta.url.endsWith(".js")
  const script = new URL(compiled ? "./seeds-worker.js" : "./seeds-worker.ts", import.meta.url).pathname
  const execArgv = compiled ? [] : ["--import", import.meta.resolve("tsx")]
  const children: Array<ChildProcess> = []
  let k = 0
  await new Promise<void>((resolve, reject) => {
    let busy = 0
    const next = (child: ChildProcess) => {
      if (k >= tasks.length) {
        child.send({ type: "stop" })
        if (busy === 0) resolve()
        return
      }
      busy++
      child.send({ type: "run", task: tasks[k++] })
    }
    for (let i = 0; i < Math.min(workers, tasks.length); i++) {
      const child = fork(script, [], { execArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] })
      children.push(child)
      child.on("message", (m: { type: "done"; id: number } & SeedResult) => {
        busy--
        const { type: _type, id: _id, ...result } = m
        results[m.id] = result
        onDone?.(++done)
        next(child)
      })
      child.on("error", reject)
      child.on("exit", (code) => {
        if (code !== 0 && code !== null) reject(new Error(`simulate worker exited with code ${code}`))
      })
      next(child)
    }
  }).finally(() => {
    for (const c of children) if (c.connected) c.send({ type: "stop" })
  })
  return results
}
