/**
 * `npm run bench` (every benchmark) and `npm run bench -- NAME... [--json] [--quick]`.
 * See docs/performance.md for what each one measures and the figures.
 */
import { api } from "./api.ts"
import { daemonIdle } from "./daemon-idle.ts"
import { engineCycle } from "./engine-cycle.ts"
import { machineNote, parseArgs, Reporter, type Bench } from "./lib.ts"
import { parse } from "./parse.ts"
import { simScale } from "./sim-scale.ts"
import { simTrace } from "./sim-trace.ts"
import { stall } from "./stall.ts"

export const benches: ReadonlyArray<Bench> = [simTrace, simScale, engineCycle, api, stall, daemonIdle, parse]

const usage = () =>
  [
    "usage: npm run bench -- [NAME...] [--json] [--quick]",
    "  --json   one JSON object per figure on stdout: {name, value, unit, params[, spread]}",
    "  --quick  shorter runs (fewer sizes, repetitions, seconds): a smoke test, not figures",
    "benchmarks:",
    ...benches.map((b) => `  ${b.name.padEnd(13)} ${b.description}`)
  ].join("\n")

const main = async () => {
  const args = parseArgs(process.argv.slice(2))
  if ("error" in args) {
    process.stderr.write(`bench: ${args.error}\n${usage()}\n`)
    return 2
  }
  if (args.help) {
    process.stdout.write(usage() + "\n")
    return 0
  }
  const unknown = args.names.filter((n) => !benches.some((b) => b.name === n))
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(", ")}\n${usage()}\n`)
    return 2
  }
  const chosen = args.names.length === 0 ? benches : benches.filter((b) => args.names.includes(b.name))
  const log = (l: string) => void (args.json ? process.stderr : process.stdout).write(l + "\n")
  log(`bench: ${chosen.map((b) => b.name).join(", ")}; ${machineNote()}`)
  for (const b of chosen) {
    const t0 = performance.now()
    await b.run(new Reporter(b.name, { json: args.json, quick: args.quick }))
    log(`${b.name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${machineNote()}\n`)
  }
  return 0
}

process.exitCode = await main()
