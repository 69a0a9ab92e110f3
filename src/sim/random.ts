/**
 * The simulator's seeded randomness: a small, fast PRNG (sfc32) and the
 * distribution descriptions scenario files use.
 *
 * Why our own generator instead of Math.random or Effect's default: a failing
 * seed must be a complete, replayable bug report, so every draw has to come
 * from a stream that depends on the seed alone. `fork(label)` derives a child
 * stream from the parent's *key* (seed + labels), not from its position, so
 * adding a draw in one part of the simulation never shifts the numbers another
 * part sees (the arrival times do not change when the boot-time model does).
 */
import { Schema } from "effect"

// ---------------------------------------------------------------- hashing

/** murmur3's 32-bit finaliser: a good avalanche for seeding. */
const fmix32 = (x: number): number => {
  let h = x >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** FNV-1a over UTF-16 code units, then finalised. */
const hashString = (s: string, salt: number): number => {
  let h = (0x811c9dc5 ^ salt) >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return fmix32(h)
}

/** A seed (any integer that fits a double exactly, or a string) → a 64-bit key. */
const keyOfSeed = (seed: number | string): readonly [number, number] => {
  if (typeof seed === "string") return [hashString(seed, 0x2545f491), hashString(seed, 0x9e3779b9)]
  if (!Number.isFinite(seed)) return keyOfSeed(String(seed))
  const s = Math.trunc(seed)
  const lo = s >>> 0
  const hi = Math.floor(s / 4294967296) >>> 0
  return [lo, hi]
}

const TWO_POW_26 = 67108864
const TWO_POW_53 = 9007199254740992

// ---------------------------------------------------------------- generator

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG), 128-bit state,
 * passes PractRand; its state is seeded from a 64-bit key.
 */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  private constructor(private readonly k0: number, private readonly k1: number) {
    this.a = fmix32(k0 ^ 0x9e3779b9)
    this.b = fmix32(k1 ^ 0x7f4a7c15)
    this.c = fmix32((k0 + Math.imul(k1, 0x6a09e667) + 0x3c6ef372) >>> 0)
    this.d = 1
    for (let i = 0; i < 15; i++) this.uint32()
  }

  /** A generator for a seed: an integer (up to 2^53) or a string. */
  static make(seed: number | string): Rng {
    const [k0, k1] = keyOfSeed(seed)
    return new Rng(k0, k1)
  }

  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    const a = this.a, b = this.b, c = this.c, d = this.d
    const t = (((a + b) | 0) + d) | 0
    this.d = (d + 1) | 0
    this.a = b ^ (b >>> 9)
    this.b = (c + (c << 3)) | 0
    const r = (c << 21) | (c >>> 11)
    this.c = (r + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1), 53 bits of resolution (two 32-bit draws). */
  next(): number {
    const hi = this.uint32() >>> 5
    const lo = this.uint32() >>> 6
    return (hi * TWO_POW_26 + lo) / TWO_POW_53
  }

  /** Uniform integer in [lo, hi], both ends included. */
  int(lo: number, hi: number): number {
    const l = Math.ceil(lo), h = Math.floor(hi)
    if (h <= l) return l
    return l + Math.floor(this.next() * (h - l + 1))
  }

  /** Uniform in [a, b). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next()
  }

  /** true with probability p. */
  bool(p = 0.5): boolean {
    return this.next() < p
  }

  /** Exponential with the given mean (inverse-CDF; never Infinity). */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next())
  }

  /** Normal (Box–Muller; two draws per call, no cached spare, so draw counts stay fixed). */
  normal(mean = 0, sd = 1): number {
    const u1 = 1 - this.next()
    const u2 = this.next()
    return mean + sd * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
  }

  /** Log-normal: exp(N(mu, sigma)); its median is exp(mu). */
  lognormal(mu: number, sigma: number): number {
    return Math.exp(this.normal(mu, sigma))
  }

  /** One element, uniformly. Throws on an empty array (a programming error). */
  pick<A>(xs: ReadonlyArray<A>): A {
    if (xs.length === 0) throw new RangeError("Rng.pick: empty array")
    return xs[this.int(0, xs.length - 1)]
  }

  /** An index drawn with the given non-negative weights (uniform if they sum to 0). */
  weighted(weights: ReadonlyArray<number>): number {
    let total = 0
    for (const w of weights) total += w > 0 ? w : 0
    if (!(total > 0)) return this.int(0, weights.length - 1)
    let r = this.next() * total
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i] > 0 ? weights[i] : 0
      if (r < w) return i
      r -= w
    }
    // rounding left r at the very end: the last positive weight
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i
    return weights.length - 1
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<A>(xs: ReadonlyArray<A>): Array<A> {
    const out = xs.slice()
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i)
      const t = out[i]
      out[i] = out[j]
      out[j] = t
    }
    return out
  }

  /**
   * An independent stream named `label`. It depends only on this generator's
   * seed and the chain of labels, never on how many numbers were drawn here.
   */
  fork(label: string): Rng {
    const h = hashString(label, 0x5bd1e995)
    const k0 = fmix32((this.k0 ^ Math.imul(h, 0x9e3779b1)) + 0x632be5ab)
    const k1 = fmix32((this.k1 + fmix32(h ^ 0x85ebca77)) ^ Math.imul(this.k0, 0xc2b2ae3d))
    return new Rng(k0, k1)
  }
}

/** Shorthand for `Rng.make`. */
export const makeRng = (seed: number | string): Rng => Rng.make(seed)

// ---------------------------------------------------------------- distributions

const finite = Schema.Finite.annotations({ message: () => "expected a finite number" })
const positive = Schema.Finite.pipe(Schema.positive()).annotations({
  message: () => "expected a positive number"
})
const nonNegative = Schema.Finite.pipe(Schema.nonNegative()).annotations({
  message: () => "expected a non-negative number"
})

const ConstantStruct = Schema.Struct({ type: Schema.Literal("constant"), value: finite })
/** A bare number is shorthand for a constant. */
const ConstantShorthand = Schema.transform(finite, Schema.typeSchema(ConstantStruct), {
  strict: true,
  decode: (value) => ({ type: "constant" as const, value }),
  encode: (d) => d.value
})
const Uniform = Schema.Struct({ type: Schema.Literal("uniform"), min: finite, max: finite }).pipe(
  Schema.filter((d) => d.min <= d.max || "uniform: min must not be greater than max")
)
const Exponential = Schema.Struct({ type: Schema.Literal("exponential"), mean: positive })
const Lognormal = Schema.Struct({ type: Schema.Literal("lognormal"), median: positive, sigma: nonNegative })
const Normal = Schema.Struct({
  type: Schema.Literal("normal"),
  mean: finite,
  sd: nonNegative,
  /** Truncation from below: values under it are redrawn. */
  min: Schema.optional(finite)
})
const Choice = Schema.Struct({
  type: Schema.Literal("choice"),
  values: Schema.NonEmptyArray(finite),
  weights: Schema.optional(Schema.Array(nonNegative))
}).pipe(
  Schema.filter((d) => {
    if (d.weights === undefined) return true
    if (d.weights.length !== d.values.length) return "choice: weights must have as many entries as values"
    return d.weights.some((w) => w > 0) || "choice: at least one weight must be positive"
  })
)

/**
 * A distribution of numbers, as written in a scenario file:
 * `{type: constant, value}` (or a bare number), `{type: uniform, min, max}`,
 * `{type: exponential, mean}`, `{type: lognormal, median, sigma}`,
 * `{type: normal, mean, sd, min?}`, `{type: choice, values, weights?}`.
 */
export const Distribution = Schema.Union(
  ConstantShorthand,
  ConstantStruct,
  Uniform,
  Exponential,
  Lognormal,
  Normal,
  Choice
)
export type Distribution = typeof Distribution.Type

/** Redraws of a truncated normal before giving up and returning the bound. */
const MAX_REDRAWS = 64

/** One value of `dist`, drawn from `rng`. */
export const sample = (dist: Distribution, rng: Rng): number => {
  switch (dist.type) {
    case "constant":
      return dist.value
    case "uniform":
      return rng.uniform(dist.min, dist.max)
    case "exponential":
      return rng.exponential(dist.mean)
    case "lognormal":
      return rng.lognormal(Math.log(dist.median), dist.sigma)
    case "normal": {
      if (dist.min === undefined) return rng.normal(dist.mean, dist.sd)
      for (let i = 0; i < MAX_REDRAWS; i++) {
        const x = rng.normal(dist.mean, dist.sd)
        if (x >= dist.min) return x
      }
      return dist.min
    }
    case "choice":
      return dist.values[dist.weights === undefined ? rng.int(0, dist.values.length - 1) : rng.weighted(dist.weights)]
  }
}

/** The mean of `dist` where it has a closed form (for checks and reports). */
export const meanOf = (dist: Distribution): number | null => {
  switch (dist.type) {
    case "constant":
      return dist.value
    case "uniform":
      return (dist.min + dist.max) / 2
    case "exponential":
      return dist.mean
    case "lognormal":
      return dist.median * Math.exp((dist.sigma * dist.sigma) / 2)
    case "normal":
      return dist.min === undefined ? dist.mean : null
    case "choice": {
      const w = dist.weights ?? dist.values.map(() => 1)
      let s = 0, t = 0
      for (let i = 0; i < dist.values.length; i++) {
        s += dist.values[i] * w[i]
        t += w[i]
      }
      return s / t
    }
  }
}
