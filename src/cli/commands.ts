/** Every `dyncluster` subcommand; add new ones here. */
import { checkConfigCommand } from "./check-config.ts"
import { runCommand } from "./run.ts"

export const subcommands = [checkConfigCommand, runCommand] as const
