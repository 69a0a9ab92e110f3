/**
 * `dyncluster check-config FILE [--online]`: validates a configuration file
 * and says what is wrong in plain words (key paths); an unknown key is an
 * error with a suggestion (a warning with --allow-unknown-keys). It also checks
 * what start-up would refuse: a policy that is
 * not a supported one (src/engine/policy.ts), the cloud
 * sections of openstack/aws resources (keys, user-data files, overlapping
 * name prefixes) and of simulated ones, the configuration checker and the hook templates. With
 * `--online` it contacts each cloud (authenticate, look up the flavour or
 * instance type) and says, per resource, whether it works.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either } from "effect"
import { checkConfig } from "../daemon/validate.ts"
import { loadConfigFile } from "../model/config.ts"
import { allowUnknownKeysOption, withUnknownKeysHint } from "./options.ts"

const file = Args.file({ name: "FILE", exists: "either" }).pipe(Args.withDescription("the configuration file (YAML)"))
const online = Options.boolean("online").pipe(
  Options.withDescription("also contact each cloud: authenticate and look up the flavour / instance type")
)

export const checkConfigCommand = Command.make("check-config", { file, online, allowUnknownKeys: allowUnknownKeysOption }, ({ file, online, allowUnknownKeys }) =>
  Effect.gen(function* () {
    const r = loadConfigFile(file, { allowUnknownKeys })
    if (Either.isLeft(r)) {
      yield* Console.error(withUnknownKeysHint(r.left.message))
      return yield* Effect.sync(() => process.exit(1))
    }
    for (const w of r.right.warnings) yield* Console.error(`warning: ${w}`)
    const c = r.right.config
    const { problems, warnings, clouds } = yield* Effect.scoped(checkConfig(c, file, online))
    for (const w of warnings) yield* Console.error(`warning: ${w}`)
    if (problems.length > 0) {
      yield* Console.error(`${file}: invalid configuration\n${problems.map((p) => `  - ${p}`).join("\n")}`)
      return yield* Effect.sync(() => process.exit(1))
    }
    const summary = `cluster type ${c.cluster.type}, ${Object.keys(c.cloud).length} cloud resource(s): ${Object.entries(c.cloud)
        .map(([n, r]) => `${n} (${r.type}, min ${r.quantity.min}, max ${r.quantity.max})`)
        .join(", ") || "none"}`
    if (!online) return yield* Console.log(`${file}: OK — ${summary}`)
    // The verdict comes after the online checks: never "OK" and then "NOT usable".
    const failed: Array<string> = []
    for (const chk of clouds.checks) {
      if (chk.ok) yield* Console.log(`${chk.resource} (${chk.type}): reachable — ${chk.message}`)
      else {
        failed.push(chk.resource)
        yield* Console.error(`${chk.resource} (${chk.type}): NOT usable — ${chk.message}`)
      }
    }
    if (clouds.checks.length === 0) yield* Console.log("no openstack or aws resource to contact")
    if (failed.length > 0) {
      yield* Console.error(
        `${file}: the configuration is valid, but ${failed.length} of ${clouds.checks.length} cloud resource(s) ${failed.length === 1 ? "is" : "are"} not usable (${failed.join(", ")})`
      )
      return yield* Effect.sync(() => process.exit(1))
    }
    yield* Console.log(`${file}: OK — ${summary}`)
  })
).pipe(Command.withDescription("Validate a configuration file and report every problem with its key path; --online also checks that each cloud answers"))
