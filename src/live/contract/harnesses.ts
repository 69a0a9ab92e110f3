/**
 * What the contract suites share: harnesses opened by a test are closed
 * after it. Call inside the suite's `describe`.
 */
import { afterEach } from "vitest"

export const openHarnesses = <A extends ReadonlyArray<unknown>, H extends { readonly close: () => Promise<void> }>(
  make: (...args: A) => Promise<H>
): ((...args: A) => Promise<H>) => {
  let open: Array<H> = []
  afterEach(async () => {
    for (const h of open) await h.close()
    open = []
  })
  return async (...args) => {
    const h = await make(...args)
    open.push(h)
    return h
  }
}
