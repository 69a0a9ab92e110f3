/**
 * What several commands share on their command line: ending with a message,
 * and reading `--policy a,b` (supported policies and the experiments of
 * src/experiments, variants like `demand-no-pool` included).
 */
import { Console, Effect, Either, Option } from "effect"
import { policyNames } from "../engine/policy.ts"
import { experimentPolicy } from "../experiments/policies.ts"

/** Prints a message on stderr and ends the process with exit code 1. */
export const fail = (message: string) =>
  Effect.gen(function* () {
    yield* Console.error(message)
    return yield* Effect.sync(() => process.exit(1))
  })

/** `--policy a,b`: the names (null when the option is absent), or a message naming what is wrong. */
export const policyList = (option: Option.Option<string>): Either.Either<ReadonlyArray<string> | null, string> => {
  if (Option.isNone(option)) return Either.right(null)
  const names = option.value
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")
  if (names.length === 0) return Either.left("--policy: expected a policy name or a comma-separated list")
  const unknown = names.filter((p) => experimentPolicy(p) === undefined)
  if (unknown.length > 0)
    return Either.left(
      `--policy: unknown policy ${unknown.map((p) => JSON.stringify(p)).join(", ")} (known: ${policyNames().join(", ")}; ` +
        `or demand with ideas switched on or off, such as demand+reactive or demand-no-pool: docs/policies.md, "Variants")`
    )
  return Either.right(names)
}
