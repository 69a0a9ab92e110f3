/** Every `dyncluster` subcommand; add new ones here. */
import { checkConfigCommand } from "./check-config.ts"

export const subcommands = [checkConfigCommand] as const
