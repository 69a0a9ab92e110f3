/**
 * stall: does the daemon ever stop answering? `dyncluster run --sim` on the
 * api bench's world (5,000 busy cloud nodes in 10 resources, 100,000 queued
 * jobs, the scenario's default policy unless BENCH_STALL_POLICY names
 * another, `--speed 1`: the engine polls the cluster every 10 s and decides
 * over the whole queue, the world schedules every 10 s), GET /server/status
 * (a tiny answer) sampled every 0.1 s over 60 s (15 s with --quick): the
 * longest answer is the longest time the event loop was held.
 *
 *   npm run bench -- stall [--quick] [--json]
 */
import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { scenarioText, swfText, waitReady } from "./api.ts"
import { fmt, freePort, machineNote, quantile, sampleLatency, stats, stopDaemon, type Bench, type Reporter } from "./lib.ts"

const BIN = fileURLToPath(new URL("../bin/dyncluster.js", import.meta.url))

export const stall: Bench = {
  name: "stall",
  description: "daemon on 5,000 nodes × 100,000 queued jobs (default policy): longest GET /server/status sampled every 0.1 s over 60 s",
  run: async (r: Reporter) => {
    const quick = r.options.quick
    const seconds = quick ? 15 : 60
    const nodes = 5000
    const queued = 100_000
    const policy = process.env.BENCH_STALL_POLICY?.trim() || null
    const dir = mkdtempSync(join(tmpdir(), "dyncluster-bench-stall-"))
    writeFileSync(join(dir, "jobs.swf"), swfText(nodes, queued))
    writeFileSync(join(dir, "scenario.yaml"), scenarioText(nodes))
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    r.note(`stall: daemon on ${nodes} nodes, ${queued} queued jobs, policy ${policy ?? "the default"}, ${seconds} s of GET /server/status every 0.1 s; ${machineNote()}`)
    let stderr = ""
    const args = [BIN, "run", "--sim", join(dir, "scenario.yaml"), "--port", String(port), "--log-level", "error", ...(policy !== null ? ["--policy", policy] : [])]
    const daemon = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] })
    daemon.stderr!.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000)
    })
    try {
      await waitReady(base, nodes, queued, Date.now() + 600_000, daemon, r)
      const s = await sampleLatency(`${base}/server/status`, seconds)
      const params = { nodes, jobs: queued, policy: policy ?? "default", seconds, every_ms: 100 }
      const st = stats(s.ms)
      r.figure("status_max", st.max, "ms", params)
      r.figure("status_p99", quantile(s.ms, 0.99), "ms", params)
      r.figure("status_p50", st.median, "ms", params)
      r.figure("status_over_100ms", s.ms.filter((x) => x > 100).length, "answers", params)
      r.figure("errors", s.errors, "answers", params)
      r.table(
        ["samples", "p50", "p99", "longest", "over 100 ms", "errors"],
        [[String(s.ms.length), `${fmt(st.median)} ms`, `${fmt(quantile(s.ms, 0.99))} ms`, `${fmt(st.max)} ms`, String(s.ms.filter((x) => x > 100).length), String(s.errors)]]
      )
      r.note(`stall: ${machineNote()}`)
    } catch (e) {
      r.warn(`${(e as Error).message}\n${stderr}`)
      throw e
    } finally {
      await stopDaemon(daemon, dir)
    }
  }
}
