/**
 * EXPERIMENTS, not production code: how simulations name a policy. Besides
 * the supported policies (src/engine/policy.ts: classic, demand, lean) a
 * simulation (`simulate`, `soak`, `plan` and `run --sim` with --policy), a
 * benchmark or a test may run
 * - a variant of demand (`demand-no-pool`, `demand+fitfast+hedge`:
 *   ./demand-variants.ts), and
 * - a policy a test or benchmark registered under a name of its own
 *   (`registerExperiment`).
 * The daemon's configuration cannot name any of them.
 */
import { supportedPolicy, unknownPolicy, UnknownPolicyError, type Policy } from "../engine/policy.ts"
import { demandVariant } from "./demand-variants.ts"

const registered = new Map<string, Policy>()

/** Makes `policy` reachable by its name in simulations (tests and benchmarks only). */
export const registerExperiment = (policy: Policy): void => {
  registered.set(policy.name, policy)
}

/** A supported policy or one a test registered: what a scenario file's config.dynamic-cluster.policy may name (variants go in --policy). */
export const scenarioPolicyKnown = (name: string): boolean => supportedPolicy(name) !== undefined || registered.has(name)

/** A supported policy, an experiment registered by a test, or a demand variant; undefined otherwise. */
export const experimentPolicy = (name: string): Policy | undefined => supportedPolicy(name) ?? registered.get(name) ?? demandVariant(name)

/** As experimentPolicy, failing with UnknownPolicyError (`unknown policy "x" (known: ...)`) for a name it does not know. */
export const resolveExperiment = (name: string): Policy => {
  const p = experimentPolicy(name)
  if (p === undefined) throw new UnknownPolicyError(name, unknownPolicy(name))
  return p
}
