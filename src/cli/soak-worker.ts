/**
 * A soak worker (child process of src/sim/soak.ts, started by `dyncluster
 * soak`): runs the worlds it is sent, writes the shrunk counterexample of a
 * failing one, answers with the run's report, and exits when told to stop.
 */
import type { WorldOptions } from "../sim/arbitrary.ts"
import { soakRun, writeFailure, type SoakTask } from "../sim/soak.ts"

type Message = { type: "run"; task: SoakTask; world: WorldOptions; out: string; shrinkMs: number } | { type: "stop" }

process.on("message", (m: Message) => {
  if (m.type === "stop") {
    if (process.connected) process.disconnect()
    return
  }
  const report = soakRun(m.task, m.world, () => performance.now())
  let file: string | null = null
  if (report.violations.length > 0) {
    try {
      file = writeFailure(m.out, report, m.world, m.shrinkMs)
    } catch (e) {
      process.stderr.write(`soak: could not write the counterexample of seed ${m.task.seed}: ${(e as Error).message}\n`)
    }
  }
  process.send!({ type: "done", report, file })
})
