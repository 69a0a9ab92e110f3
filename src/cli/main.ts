/**
 * The `dyncluster` command. Each subcommand lives in its own file and is
 * listed in ./commands.ts.
 */
import { Command, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { subcommands } from "./commands.ts"
import { helpConsole, helpWidth, isHelpRequest } from "./help-format.ts"
import { plainConsole, wantsColour } from "./plain-console.ts"
import { versionText } from "./version.ts"

const root = Command.make("dyncluster").pipe(
  Command.withDescription(
    "Grows and shrinks an HPC batch cluster with cloud worker nodes; replays workloads in a simulated world."
  ),
  Command.withSubcommands(subcommands)
)

const cli = Command.run(root, { name: "dyncluster", version: versionText() })

// Help and command-line errors are coloured only on a terminal (and never with NO_COLOR): see plain-console.ts.
// Help is fitted to the terminal's width (COLUMNS, else 80 off a terminal): see help-format.ts.
const args = process.argv.slice(2)
Console.consoleWith((base) => {
  const plain = plainConsole(base, wantsColour(process.stdout.isTTY, process.env), wantsColour(process.stderr.isTTY, process.env))
  return Console.withConsole(
    cli(process.argv),
    isHelpRequest(args) ? helpConsole(plain, helpWidth(process.env, process.stdout.isTTY ? process.stdout.columns : undefined)) : plain
  )
}).pipe(
  // A bad command line (unknown option, missing argument, a value of the wrong
  // type) has already been printed by @effect/cli: exit 1 without also dumping
  // the error value.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exit(1))),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: false })
)
