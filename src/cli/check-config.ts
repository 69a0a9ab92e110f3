/**
 * `dyncluster check-config FILE`: validates a configuration file and says what
 * is wrong in plain words (key paths), with warnings for unknown keys.
 */
import { Args, Command } from "@effect/cli"
import { Console, Effect, Either } from "effect"
import { loadConfigFile } from "../model/config.ts"

const file = Args.file({ name: "FILE", exists: "either" }).pipe(Args.withDescription("the configuration file (YAML)"))

export const checkConfigCommand = Command.make("check-config", { file }, ({ file }) =>
  Effect.gen(function* () {
    const r = loadConfigFile(file)
    if (Either.isLeft(r)) {
      yield* Console.error(r.left.message)
      return yield* Effect.sync(() => process.exit(1))
    }
    for (const w of r.right.warnings) yield* Console.error(`warning: ${w}`)
    const c = r.right.config
    yield* Console.log(
      `${file}: OK — cluster type ${c.cluster.type}, ${Object.keys(c.cloud).length} cloud resource(s): ${Object.entries(c.cloud)
        .map(([n, r]) => `${n} (${r.type}, min ${r.quantity.min}, max ${r.quantity.max})`)
        .join(", ") || "none"}`
    )
  })
).pipe(Command.withDescription("Validate a configuration file and report every problem with its key path"))
