/**
 * `dyncluster check-config FILE [--online]`: validates a configuration file
 * and says what is wrong in plain words (key paths), with warnings for
 * unknown keys. It also checks what start-up would refuse: a policy that is
 * not a supported one (src/engine/policy.ts), the cloud
 * sections of openstack/aws resources (keys, user-data files, overlapping
 * name prefixes) and of simulated ones, the configuration checker and the hook templates. With
 * `--online` it contacts each cloud (authenticate, look up the flavour or
 * instance type) and says, per resource, whether it works.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either } from "effect"
import { checkHookTemplates, hookTemplates } from "../daemon/hooks.ts"
import { loadSimCloud } from "../daemon/sim-cloud.ts"
import { loadBatchScenario } from "../daemon/sim-cluster.ts"
import { checkClouds } from "../live/cloud.ts"
import { makeChecker } from "../live/checkers.ts"
import { unsupportedPolicy } from "../engine/policy.ts"
import { engineSettings, loadConfigFile } from "../model/config.ts"

const file = Args.file({ name: "FILE", exists: "either" }).pipe(Args.withDescription("the configuration file (YAML)"))
const online = Options.boolean("online").pipe(
  Options.withDescription("also contact each cloud: authenticate and look up the flavour / instance type")
)

export const checkConfigCommand = Command.make("check-config", { file, online }, ({ file, online }) =>
  Effect.gen(function* () {
    const r = loadConfigFile(file)
    if (Either.isLeft(r)) {
      yield* Console.error(r.left.message)
      return yield* Effect.sync(() => process.exit(1))
    }
    for (const w of r.right.warnings) yield* Console.error(`warning: ${w}`)
    const c = r.right.config
    const problems: Array<string> = []
    // the daemon runs a supported policy only: variants are experiments for simulations
    const policy = unsupportedPolicy(c["dynamic-cluster"].policy)
    if (policy !== null) problems.push(policy)
    const checker = makeChecker(c["dynamic-cluster"]["config-checker"])
    if (Either.isLeft(checker)) problems.push(checker.left.message)
    const hooks = checkHookTemplates(hookTemplates(engineSettings(c)))
    if (Either.isLeft(hooks)) problems.push(hooks.left.message)
    if (c.cluster.type === "simulated") {
      // the batch system of a scenario under the live clouds (docs/clouds.md)
      const batch = loadBatchScenario(c, file)
      if (Either.isLeft(batch)) problems.push(...batch.left)
      else for (const w of batch.right.warnings) yield* Console.error(`warning: ${w}`)
    }
    for (const [name, rc] of Object.entries(c.cloud)) {
      if (rc.type !== "simulated") continue
      // simulated VMs under a real batch system (docs/clouds.md)
      const sim = loadSimCloud(name, rc, file)
      if (Either.isLeft(sim)) problems.push(...sim.left)
      else for (const w of sim.right.warnings) yield* Console.error(`warning: ${w}`)
    }
    const clouds = yield* Effect.scoped(checkClouds(c, online))
    problems.push(...clouds.problems)
    for (const w of clouds.warnings) yield* Console.error(`warning: ${w}`)
    if (problems.length > 0) {
      yield* Console.error(`${file}: invalid configuration\n${problems.map((p) => `  - ${p}`).join("\n")}`)
      return yield* Effect.sync(() => process.exit(1))
    }
    yield* Console.log(
      `${file}: OK — cluster type ${c.cluster.type}, ${Object.keys(c.cloud).length} cloud resource(s): ${Object.entries(c.cloud)
        .map(([n, r]) => `${n} (${r.type}, min ${r.quantity.min}, max ${r.quantity.max})`)
        .join(", ") || "none"}`
    )
    if (!online) return
    let failed = 0
    for (const chk of clouds.checks) {
      if (chk.ok) yield* Console.log(`${chk.resource} (${chk.type}): reachable — ${chk.message}`)
      else {
        failed++
        yield* Console.error(`${chk.resource} (${chk.type}): NOT usable — ${chk.message}`)
      }
    }
    if (clouds.checks.length === 0) yield* Console.log("no openstack or aws resource to contact")
    if (failed > 0) return yield* Effect.sync(() => process.exit(1))
  })
).pipe(Command.withDescription("Validate a configuration file and report every problem with its key path; --online also checks that each cloud answers"))
