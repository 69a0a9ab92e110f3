/** Every `dyncluster` subcommand; add new ones here. */
import { checkConfigCommand } from "./check-config.ts"
import { planCommand } from "./plan.ts"
import { runCommand } from "./run.ts"
import { simulateCommand } from "./simulate.ts"
import { slurmResumeCommand, slurmSuspendCommand } from "./slurm-power.ts"
import { soakCommand } from "./soak.ts"
import { tracesCommand } from "./traces.ts"
import { shadowReportCommand } from "./shadow-report.ts"

export const subcommands = [checkConfigCommand, simulateCommand, runCommand, slurmResumeCommand, slurmSuspendCommand, planCommand, soakCommand, tracesCommand, shadowReportCommand] as const
