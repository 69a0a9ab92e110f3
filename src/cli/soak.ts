/**
 * `dyncluster soak`: random worlds with faults and operator actions, checked
 * against every invariant of SPEC §6, for a number of runs or a time budget on
 * every core (docs/testing.md). Prints runs/s, faults injected, violations
 * (exit code 1 if any) and the worst metrics seen; failing seeds go to
 * OUT/seeds.jsonl with a shrunk scenario file each.
 *
 * `--replay FILE` instead runs scenario files (e.g. scenarios/regressions/*.yaml,
 * operator_actions included) once each and prints their violations.
 */
import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Either, Option } from "effect"
import { availableParallelism } from "node:os"
import { policyNames } from "../engine/policy.ts"
import { fail, floatOption, integerOption, policyList } from "./options.ts"
import { checkScenario, loadRegression } from "../sim/harness.ts"
import { formatViolation } from "../sim/invariants.ts"
import { formatTotals, runSoak } from "../sim/soak.ts"

const runs = integerOption("runs").pipe(Options.optional, Options.withDescription("stop after this many runs (worlds × policies)"))
const minutes = floatOption("minutes").pipe(Options.optional, Options.withDescription("stop after this many minutes (default 1 when --runs is not given)"))
const workers = integerOption("workers").pipe(Options.optional, Options.withDescription("worker processes (default: one per core; 0 = in this process)"))
const policy = Options.text("policy").pipe(Options.optional, Options.withDescription(`policies to check, comma-separated: ${policyNames().join(", ")} (default: every one)`))
const seed = integerOption("seed").pipe(Options.optional, Options.withDescription("first world seed (default: from the clock; printed)"))
const out = Options.directory("out").pipe(Options.withDefault("soak-failures"), Options.withDescription("where failing seeds (seeds.jsonl) and their scenario files go"))
const shrink = integerOption("shrink-seconds").pipe(Options.withDefault(60), Options.withDescription("time to shrink each failure before writing it (0 = as found)"))
const maxJobs = integerOption("max-jobs").pipe(Options.optional, Options.withDescription("most jobs per world (default 30)"))
const maxFaults = integerOption("max-faults").pipe(Options.optional, Options.withDescription("most faults per world (default 5)"))
const maxActions = integerOption("max-actions").pipe(Options.optional, Options.withDescription("most operator actions per world (default 6)"))
const quiet = Options.boolean("quiet").pipe(Options.withDescription("no progress lines"))
const replay = Args.file({ name: "FILE", exists: "yes" }).pipe(Args.repeated, Args.withDescription("with --replay: scenario files to run and check"))
const replayFlag = Options.boolean("replay").pipe(Options.withDescription("run the given scenario files (operator_actions included) and check every invariant"))


const replayFiles = (files: ReadonlyArray<string>, policies: ReadonlyArray<string> | null) =>
  Effect.gen(function* () {
    let bad = 0
    for (const f of files) {
      const r = yield* Effect.try({ try: () => loadRegression(f), catch: (e) => (e instanceof Error ? e.message : String(e)) }).pipe(Effect.catchAll((m) => fail(m)))
      for (const p of policies ?? [r.policy]) {
        const run = checkScenario(r.scenario, r.actions, { policy: p })
        bad += run.violations.length
        yield* Console.log(`${f} (policy ${p}, ${r.actions.length} operator action(s)): ${run.violations.length === 0 ? "every invariant holds" : `${run.violations.length} violation(s)`}`)
        for (const v of run.violations) yield* Console.log("  " + formatViolation(v).replaceAll("\n", "\n  "))
      }
    }
    if (bad > 0) yield* Effect.sync(() => process.exit(1))
  })

export const soakCommand = Command.make(
  "soak",
  { runs, minutes, workers, policy, seed, out, shrink, maxJobs, maxFaults, maxActions, quiet, replay: replayFlag, files: replay },
  (a) =>
    Effect.gen(function* () {
      const parsed = policyList(a.policy)
      if (Either.isLeft(parsed)) return yield* fail(parsed.left)
      const policies = parsed.right
      if (a.replay) {
        if (a.files.length === 0) return yield* fail("--replay: give one or more scenario files")
        return yield* replayFiles(a.files, policies)
      }
      if (a.files.length > 0) return yield* fail(`unexpected argument ${a.files[0]}: scenario files go with --replay`)
      const nRuns = Option.getOrNull(a.runs)
      const nMinutes = Option.getOrNull(a.minutes)
      if (nRuns !== null && nRuns < 1) return yield* fail("--runs: expected a positive integer")
      if (nMinutes !== null && !(nMinutes > 0)) return yield* fail("--minutes: expected a positive number")
      const nWorkers = Option.getOrElse(a.workers, () => availableParallelism())
      if (nWorkers < 0) return yield* fail("--workers: expected 0 or more")
      if (a.shrink < 0) return yield* fail("--shrink-seconds: expected 0 or more")
      const base = Option.isSome(a.seed) ? a.seed.value : Number((yield* Clock.currentTimeMillis) % 1_000_000_000)
      const seconds = nMinutes !== null ? nMinutes * 60 : nRuns === null ? 60 : null
      const use = policies ?? policyNames()
      const world = {
        ...(Option.isSome(a.maxJobs) ? { maxJobs: a.maxJobs.value } : {}),
        ...(Option.isSome(a.maxFaults) ? { maxFaults: a.maxFaults.value } : {}),
        ...(Option.isSome(a.maxActions) ? { maxActions: a.maxActions.value } : {})
      }
      for (const [k, v] of Object.entries(world)) if (v < 0) return yield* fail(`--${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}: expected 0 or more`)
      yield* Console.error(
        `soak: ${nWorkers} worker(s), policies ${use.join(", ")}, first seed ${base}, budget ${[nRuns !== null ? `${nRuns} runs` : null, seconds !== null ? `${seconds / 60} min` : null].filter((x) => x !== null).join(" or ")}`
      )
      const { totals, elapsedSeconds } = yield* Effect.promise(() =>
        runSoak({
          policies: use,
          seed: base,
          runs: nRuns,
          seconds,
          workers: nWorkers,
          out: a.out,
          shrinkMs: a.shrink * 1000,
          world,
          now: () => performance.now(),
          ...(a.quiet
            ? {}
            : {
                progress: (t, s) =>
                  process.stderr.write(`[${Math.round(s)} s] ${t.runs} runs (${(t.runs / s).toFixed(2)}/s), ${t.faultsInjected} faults, ${t.violations} violation(s)\n`)
              })
        })
      )
      yield* Console.log(formatTotals(totals, elapsedSeconds, nWorkers))
      if (totals.failing.length > 0) yield* Console.log(`Failing seeds written to ${a.out}/seeds.jsonl`)
      if (totals.violations > 0) yield* Effect.sync(() => process.exit(1))
    })
).pipe(
  Command.withDescription(
    "Check the invariants of SPEC §6 in many random worlds (configurations, workloads, faults, operator actions) on every core; --replay FILE checks scenario files"
  )
)
