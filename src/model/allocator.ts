/**
 * The classic allocator of SPEC §4: queued jobs in, "start N nodes in
 * resource R" out. Pure.
 */
import type { Job, Reservation, ResourceFlag } from "./types.ts"

export interface AllocResource {
  readonly name: string
  readonly priority: number
  /** Effective limits (after freeze / drain). */
  readonly min: number
  readonly max: number
  /** Nodes the resource has now, in any state (Starting and Deleting included). */
  readonly current: number
  readonly coresPerNode: number
  readonly reservation: Reservation
  readonly flag: ResourceFlag
}

export interface ProposedNode {
  /** Cores already promised on this new node. */
  cores: number
  readonly jobs: Array<string>
}

export interface Proposal {
  readonly resource: string
  readonly nodes: ReadonlyArray<ProposedNode>
}

export const classicAllocate = (
  _jobs: ReadonlyArray<Job>,
  _resources: ReadonlyArray<AllocResource>
): ReadonlyArray<Proposal> => {
  throw new Error("not implemented yet")
}
