/**
 * Spot interruptions as the cloud reports them. A spot instance carries its
 * request's status code in `Instance.spot_state` (EC2: the
 * `Status.Code` of DescribeSpotInstanceRequests; the simulator: the same
 * codes). The codes below are those of the EC2 User Guide, "State changes
 * for a Spot request" (Fulfilled-terminal): EC2 is taking the instance back,
 * or has taken it. `instance-terminated-by-user` and
 * `request-canceled-and-instance-running` are not interruptions (someone of
 * ours acted), nor is any code of a request not yet fulfilled.
 */
import type { Instance } from "../model/types.ts"

/** The interruption notice: EC2 will stop or terminate the instance in about two minutes. */
export const SPOT_NOTICE_CODES: ReadonlyArray<string> = ["marked-for-termination", "marked-for-stop"]

/** EC2 has interrupted the instance (terminated or stopped it). */
export const SPOT_INTERRUPTED_CODES: ReadonlyArray<string> = [
  "instance-terminated-by-price",
  "instance-terminated-no-capacity",
  "instance-terminated-capacity-oversubscribed",
  "instance-terminated-launch-group-constraint",
  "instance-stopped-by-price",
  "instance-stopped-no-capacity",
  "instance-stopped-capacity-oversubscribed"
]

const INTERRUPTION = new Set([...SPOT_NOTICE_CODES, ...SPOT_INTERRUPTED_CODES])

/** The status code when the instance is a spot instance EC2 is interrupting or has interrupted; null otherwise. */
export const spotInterruption = (inst: Instance): string | null =>
  inst.spot_id !== null && inst.spot_state !== null && INTERRUPTION.has(inst.spot_state) ? inst.spot_state : null
