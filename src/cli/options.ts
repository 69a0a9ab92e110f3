/**
 * What several commands share on their command line: ending with a message,
 * and reading `--policy a,b` (supported policies and the experiments of
 * src/experiments, variants like `demand-no-pool` included).
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Console, Effect, Either, Option } from "effect"
import { policyNames } from "../engine/policy.ts"
import { experimentPolicy } from "../experiments/policies.ts"

/** Prints a message on stderr and ends the process with exit code 1. */
export const fail = (message: string) =>
  Effect.gen(function* () {
    yield* Console.error(message)
    return yield* Effect.sync(() => process.exit(1))
  })

/** For `--policy`'s help: the policies and the default. */
export const policyHelp = (): string =>
  `${policyNames().join(", ")} (default: the scenario's or configuration's dynamic-cluster.policy, else lean; ` +
  "variants such as demand-no-pool: docs/policies.md)"

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

// ---------------------------------------------------------------- typed options

/**
 * `--name N`: @effect/cli's Options.integer / Options.float say only
 * `'abc' is not a integer`; these name the option (`--seed: expected an
 * integer, got 'abc'`). Shown as `--seed integer` in the help, like theirs.
 */
const numberOption = (name: string, kind: "integer" | "number", valid: (n: number) => boolean) =>
  Options.text(name).pipe(
    Options.withPseudoName(kind),
    Options.mapEffect((text) => {
      const t = text.trim()
      const n = t === "" ? NaN : Number(t)
      return valid(n)
        ? Effect.succeed(n)
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name}: expected ${kind === "integer" ? "an integer" : "a number"}, got '${text}'`)))
    })
  )

export const integerOption = (name: string): Options.Options<number> => numberOption(name, "integer", Number.isSafeInteger)
export const floatOption = (name: string): Options.Options<number> => numberOption(name, "number", Number.isFinite)

/** `--allow-unknown-keys`: unknown keys in scenario and configuration files become warnings. */
export const allowUnknownKeysOption = Options.boolean("allow-unknown-keys").pipe(
  Options.withDescription("unknown keys in the scenario or configuration are warnings instead of errors (by default a misspelt key stops the command)")
)

/** The hint after a message that names an unknown key. */
export const withUnknownKeysHint = (message: string): string =>
  /: unknown key/.test(message) ? `${message}\n(--allow-unknown-keys turns unknown keys into warnings)` : message
