/**
 * Every problem of a configuration that a start would refuse, without
 * contacting anything: the checker, the hook templates, the simulated
 * cluster's scenario and simulated clouds, the cloud sections (keys,
 * user-data files, overlapping name prefixes). `dyncluster check-config`
 * prints them; a reload (SIGHUP, PUT /server/config/reload) refuses a file
 * that has any.
 */
import { Effect, Either, type Scope } from "effect"
import { checkClouds, type CloudsReport } from "../live/cloud.ts"
import { makeChecker } from "../live/checkers.ts"
import { unsupportedPolicy } from "../engine/policy.ts"
import { engineSettings, type ConfigFile } from "../model/config.ts"
import { checkHookTemplates, hookTemplates } from "./hooks.ts"
import { loadSimCloud } from "./sim-cloud.ts"
import { loadBatchScenario } from "./sim-cluster.ts"

export interface ConfigCheck {
  /** Each with its key path; empty = the configuration can run. */
  readonly problems: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  /** The clouds' report (with `online`, whether each answers). */
  readonly clouds: CloudsReport
}

/** `file`: the configuration file's path (relative paths in it are resolved against its directory). */
export const checkConfig = (c: ConfigFile, file: string, online = false): Effect.Effect<ConfigCheck, never, Scope.Scope> =>
  Effect.gen(function* () {
    const problems: Array<string> = []
    const warnings: Array<string> = []
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
      else warnings.push(...batch.right.warnings)
    }
    for (const [name, rc] of Object.entries(c.cloud)) {
      if (rc.type !== "simulated") continue
      // simulated VMs under a real batch system (docs/clouds.md)
      const sim = loadSimCloud(name, rc, file)
      if (Either.isLeft(sim)) problems.push(...sim.left)
      else warnings.push(...sim.right.warnings)
    }
    const clouds = yield* checkClouds(c, online)
    problems.push(...clouds.problems)
    warnings.push(...clouds.warnings)
    return { problems, warnings, clouds }
  })
