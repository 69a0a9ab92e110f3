/** A binary min-heap of timed events, ordered by (t, seq): equal times pop in insertion order. */
export interface Timed {
  readonly t: number
  readonly seq: number
}

export class EventHeap<E extends Timed> {
  private items: Array<E> = []

  get size(): number {
    return this.items.length
  }

  peek(): E | undefined {
    return this.items[0]
  }

  push(e: E): void {
    // sift up with a hole (no swap allocations)
    const a = this.items
    let i = a.length
    a.push(e)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(e, a[p])) break
      a[i] = a[p]
      i = p
    }
    a[i] = e
  }

  pop(): E | undefined {
    const a = this.items
    if (a.length === 0) return undefined
    const top = a[0]
    const last = a.pop()!
    const n = a.length
    if (n > 0) {
      // sift `last` down from the root with a hole
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && less(a[r], a[l]) ? r : l
        if (!less(a[c], last)) break
        a[i] = a[c]
        i = c
      }
      a[i] = last
    }
    return top
  }
}

export const less = (x: Timed, y: Timed): boolean => x.t < y.t || (x.t === y.t && x.seq < y.seq)
