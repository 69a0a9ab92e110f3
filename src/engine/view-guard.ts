/**
 * A cluster view that suddenly loses every node is suspect (issue 20,
 * finding 7): `pbsnodes -x` or `qhost -xml` printing nothing with exit 0 on
 * a confused server would otherwise mark every cloud node Error and drop
 * every physical one. Such a view is kept out until it is seen
 * `confirmations` polls in a row; meanwhile the engine keeps its last view
 * (as when the batch system cannot be queried).
 */
import type { ClusterView } from "./services.ts"

export const EMPTY_VIEW_CONFIRMATIONS = 3

export interface ViewGuard {
  /**
   * "apply" or "suspect" for a view, given how many nodes of the last view
   * were expected to stay (nodes the engine did not take out itself).
   */
  readonly check: (view: ClusterView, expectedNodes: number) => "apply" | "suspect"
  /** Polls in a row the suspect view has been seen (0: none). */
  readonly suspectPolls: () => number
}

export const makeViewGuard = (confirmations = EMPTY_VIEW_CONFIRMATIONS): ViewGuard => {
  let seen = 0
  return {
    check: (view, expectedNodes) => {
      if (view.nodes.length > 0 || expectedNodes === 0) {
        seen = 0
        return "apply"
      }
      seen++
      return seen >= confirmations ? "apply" : "suspect"
    },
    suspectPolls: () => seen
  }
}
