/**
 * The golden cases: scenario files × policies × seeds whose full event logs
 * (`simulate --events`) and engine logs are pinned by SHA-256 in
 * src/sim/golden.json (see golden.test.ts and docs/testing.md). A refactor of
 * the engine or the simulator must leave every hash as it is.
 */
import { Effect, Either } from "effect"
import { createHash } from "node:crypto"
import { readdirSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { Progress, runOne } from "../cli/simulate.ts"
import { applySet, decodeScenarioAt, readScenarioDocument } from "./scenario.ts"

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..")

export const GOLDEN_POLICIES = ["classic", "demand", "lean"] as const
export const GOLDEN_SEEDS = [1, 2] as const

export interface GoldenFile {
  /** Scenario path relative to the repository. */
  readonly path: string
  /** `--set` overrides that keep a long scenario short enough for `npm test`. */
  readonly sets?: ReadonlyArray<readonly [string, unknown]>
}

export const goldenFiles = (): Array<GoldenFile> => [
  { path: "scenarios/quickstart.yaml" },
  { path: "scenarios/burst.yaml" },
  { path: "scenarios/outage.yaml" },
  // 10 days in the file: its first day and a half (7 bursts) here
  {
    path: "scenarios/compare/bursty.yaml",
    sets: [
      ["workload.duration", 129600],
      ["workload.bursts", [3600, 25200, 46800, 68400, 90000, 111600, 126000].map((at) => ({ at, count: 150, spread: 600 }))]
    ]
  },
  ...readdirSync(join(ROOT, "scenarios/regressions"))
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => ({ path: `scenarios/regressions/${f}` }))
]

export interface GoldenCase {
  readonly file: GoldenFile
  readonly policy: string
  readonly seed: number
  /** `path policy seed=N`: the key in golden.json. */
  readonly key: string
}

export const goldenCases = (): Array<GoldenCase> =>
  goldenFiles().flatMap((file) =>
    GOLDEN_POLICIES.flatMap((policy) => GOLDEN_SEEDS.map((seed) => ({ file, policy, seed, key: `${file.path} ${policy} seed=${seed}` })))
  )

export interface GoldenResult {
  /** SHA-256 of the event log as `simulate --events` writes it (each line + "\n"). */
  readonly events: string
  readonly eventLines: number
  /** SHA-256 of the engine log, one JSON object per line. */
  readonly engine: string
  readonly engineLines: number
}

/** Runs one case in-process through `simulate`'s own run function. */
export const runGolden = (c: GoldenCase): Promise<GoldenResult> => {
  const path = join(ROOT, c.file.path)
  const doc = readScenarioDocument(path)
  if (Either.isLeft(doc)) throw new Error(doc.left.message)
  let d: unknown = doc.right
  for (const [k, v] of c.file.sets ?? []) {
    const r = applySet(d, k, v, dirname(path))
    if (Either.isLeft(r)) throw new Error(`${c.file.path}: --set ${k}: ${r.left}`)
    d = r.right
  }
  const sc = decodeScenarioAt(path, d, { seed: c.seed })
  if (Either.isLeft(sc)) throw new Error(sc.left.message)
  const ev = createHash("sha256")
  const en = createHash("sha256")
  let eventLines = 0
  let engineLines = 0
  const writer = {
    write: (line: string) => {
      ev.update(line + "\n")
      eventLines++
    }
  }
  return Effect.runPromise(
    runOne(sc.right, c.policy, {
      writer,
      keep: false,
      progress: new Progress(false, 0),
      label: "",
      engineLog: (e) => {
        en.update(JSON.stringify(e) + "\n")
        engineLines++
      }
    })
  ).then(() => ({ events: ev.digest("hex"), eventLines, engine: en.digest("hex"), engineLines }))
}

export const goldenJsonPath = join(ROOT, "src/sim/golden.json")
export const relativeToRoot = (p: string) => relative(ROOT, p)
