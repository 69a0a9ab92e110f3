/**
 * A `simulate --seeds` worker (child process of src/cli/seeds-pool.ts): runs
 * the variant × seed it is sent exactly as `simulate` runs one and answers
 * with the summary; exits when told to stop.
 */
import { runSeedTask, type SeedTask } from "./seeds-pool.ts"

process.on("message", (m: { type: "run"; task: SeedTask } | { type: "stop" }) => {
  if (m.type === "stop") {
    if (process.connected) process.disconnect()
    return
  }
  runSeedTask(m.task).then(
    (r) => process.send!({ type: "done", id: m.task.id, ...r }),
    (e) => process.send!({ type: "done", id: m.task.id, error: String(e) })
  )
})
