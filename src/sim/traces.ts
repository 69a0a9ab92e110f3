/**
 * The trace catalogue: the Parallel Workloads Archive logs that the scenario
 * files replay (and one synthetic log), by name. A scenario names a trace by
 * its catalogue name (`workload.file: KTH-SP2-1996-2.1-cln`); the loader looks
 * for it in the checkout's `../shared/traces`, then in the cache
 * (`$DYNCLUSTER_TRACES`, else `$XDG_CACHE_HOME/dyncluster/traces`, else
 * `~/.cache/dyncluster/traces`). `dyncluster traces fetch NAME` downloads a
 * trace into the cache: streamed to a temporary file in the cache directory,
 * its decompressed content checked against the catalogue's sha256, then
 * renamed into place (so the cache never holds a partial or corrupt file).
 * A trace is data: it is read, never executed (mode 0644).
 *
 * Sources and citation: ../shared/traces/SOURCES.md and docs/testbed.md.
 */
import { Data, Effect } from "effect"
import { createHash } from "node:crypto"
import { chmodSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs"
import { homedir } from "node:os"
import { basename, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { createGunzip, gunzipSync } from "node:zlib"
import { didYouMean } from "../model/did-you-mean.ts"

export interface TraceEntry {
  /** Catalogue name: the archive's file name without `.swf`/`.swf.gz`. */
  readonly name: string
  /** File name in the archive, in ../shared/traces and in the cache. */
  readonly file: string
  /** Where `traces fetch` downloads it from (the base is replaced by $DYNCLUSTER_TRACES_URL when set). */
  readonly url: string
  /** Bytes of the file as published (compressed for .gz), for the progress bar when the server does not say. */
  readonly size: number
  /** sha256 of the decompressed content (what is checked: the same log recompressed is still the same log). */
  readonly sha256: string
  readonly jobs: number
  readonly description: string
}

const PWA = "https://www.cs.huji.ac.il/labs/parallel/workload"

/** Checksums computed from the files in ../shared/traces (their md5s are those of SOURCES.md). */
export const CATALOGUE: ReadonlyArray<TraceEntry> = [
  {
    name: "KTH-SP2-1996-2.1-cln",
    file: "KTH-SP2-1996-2.1-cln.swf.gz",
    url: `${PWA}/l_kth_sp2/KTH-SP2-1996-2.1-cln.swf.gz`,
    size: 411_455,
    sha256: "fba36494c4e4257f72182e8b629ebb0bcb054b3b82851ef957445bd627adcc87",
    jobs: 28_476,
    description: "IBM SP2, KTH Stockholm, 100 processors, Sep 1996 - Aug 1997"
  },
  {
    name: "LANL-CM5-1994-4.1-cln",
    file: "LANL-CM5-1994-4.1-cln.swf.gz",
    url: `${PWA}/l_lanl_cm5/LANL-CM5-1994-4.1-cln.swf.gz`,
    size: 2_138_864,
    sha256: "4766a62dabcc7403ec0a55534aff297203e692ddbf6637bd40100a3800f6354a",
    jobs: 122_060,
    description: "Thinking Machines CM-5, LANL, 1024 processors, Oct 1994 - Sep 1996"
  },
  {
    name: "LLNL-Atlas-2006-2.1-cln",
    file: "LLNL-Atlas-2006-2.1-cln.swf.gz",
    url: `${PWA}/l_llnl_atlas/LLNL-Atlas-2006-2.1-cln.swf.gz`,
    size: 468_398,
    sha256: "8b3aaab739fa0bda8abaccc37c207d0b19d9d147b19e7f47a1641133a56fd07f",
    jobs: 43_778,
    description: "Linux cluster Atlas, LLNL, 9216 processors, Nov 2006 - Jun 2007"
  },
  {
    name: "NASA-iPSC-1993-3.1-cln",
    file: "NASA-iPSC-1993-3.1-cln.swf.gz",
    url: `${PWA}/l_nasa_ipsc/NASA-iPSC-1993-3.1-cln.swf.gz`,
    size: 207_976,
    sha256: "9d997a2c20a7f7b0b6d81638d756ce8b2c524c4f2e9ec78da36001743ca33d76",
    jobs: 18_239,
    description: "Intel iPSC/860, NASA Ames, 128 processors, Oct - Dec 1993"
  },
  {
    name: "lublin_256",
    file: "lublin_256.swf",
    // not in the archive: the Lublin-Feitelson model's output, as RLScheduler publishes it
    url: "https://raw.githubusercontent.com/DIR-LAB/deep-batch-scheduler/cd433e3d62a01705f255bd48cb55b393862800e7/data/lublin_256.swf",
    size: 649_089,
    sha256: "a394ab3d81179ebcf645a1cbd593a60b6dff7f11a510e1e6285c45f43310c962",
    jobs: 10_000,
    description: "synthetic (Lublin-Feitelson model), 256 nodes, 10000 jobs"
  }
]

/** A catalogue entry by name (or by its file name). */
export const findTrace = (name: string, catalogue: ReadonlyArray<TraceEntry> = CATALOGUE): TraceEntry | undefined =>
  catalogue.find((t) => t.name === name || t.file === name)

/** `unknown trace "x" (did you mean …?; known: …)` */
export const unknownTrace = (name: string, catalogue: ReadonlyArray<TraceEntry> = CATALOGUE): string =>
  `unknown trace ${JSON.stringify(name)}${didYouMean(name, catalogue.map((t) => t.name))} (known: ${catalogue.map((t) => t.name).join(", ")})`

// ---------------------------------------------------------------- where traces are

/** The checkout (or installed package) root: the directory of package.json. */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url))

/** `../shared/traces` beside the checkout (the team's copies; absent in a user's clone). */
export const sharedTracesDir = (): string => resolve(PACKAGE_ROOT, "../shared/traces")

/** `$DYNCLUSTER_TRACES`, else `$XDG_CACHE_HOME/dyncluster/traces`, else `~/.cache/dyncluster/traces`. */
export const cacheDir = (env: NodeJS.ProcessEnv = process.env): string => {
  if (env.DYNCLUSTER_TRACES !== undefined && env.DYNCLUSTER_TRACES !== "") return resolve(env.DYNCLUSTER_TRACES)
  const xdg = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== "" ? env.XDG_CACHE_HOME : join(env.HOME ?? homedir(), ".cache")
  return join(resolve(xdg), "dyncluster", "traces")
}

/** The directories searched for a catalogue trace, in order. */
export const searchDirs = (env: NodeJS.ProcessEnv = process.env): ReadonlyArray<string> => [sharedTracesDir(), cacheDir(env)]

const isFile = (p: string) => existsSync(p) && statSync(p).isFile()

/** Where a catalogue trace is on this machine (shared copy first, then the cache), or null. */
export const locateTrace = (t: TraceEntry, dirs: ReadonlyArray<string> = searchDirs()): string | null => {
  for (const d of dirs) {
    const p = join(d, t.file)
    if (isFile(p)) return p
  }
  return null
}

/** The one line a missing trace gets. */
export const notHere = (t: TraceEntry): string => `trace ${t.name} is not here: run 'dyncluster traces fetch ${t.name}'`

/**
 * What `workload.file` of a scenario names: an existing path (relative to the
 * scenario's directory) is used as it is; a catalogue name, or a path that
 * does not exist whose file name is a catalogue file (scenarios written before
 * the catalogue), is looked up with `locateTrace`. Else the problem, and the
 * catalogue entry when it is a known trace that is not on this machine.
 */
export const resolveTraceFile = (
  file: string,
  baseDir: string,
  lookup: { readonly catalogue?: ReadonlyArray<TraceEntry>; readonly dirs?: ReadonlyArray<string> } = {}
): { readonly path: string } | { readonly problem: string; readonly missing: TraceEntry | null } => {
  const direct = resolve(baseDir, file)
  if (existsSync(direct)) return { path: direct }
  const t = findTrace(file, lookup.catalogue) ?? findTrace(basename(file), lookup.catalogue)
  if (t === undefined) return { problem: `trace file not found: ${direct}`, missing: null }
  const found = locateTrace(t, lookup.dirs)
  return found !== null ? { path: found } : { problem: notHere(t), missing: t }
}

// ---------------------------------------------------------------- checksums

/** sha256 of the content, decompressed first for a `.gz` file name. */
export const contentSha256 = (bytes: Uint8Array, file: string): string =>
  createHash("sha256").update(file.endsWith(".gz") ? gunzipSync(bytes) : bytes).digest("hex")

/** Whether the file at `path` holds the catalogue's content. */
export const verifyFile = (t: TraceEntry, path: string): boolean => {
  try {
    return contentSha256(readFileSync(path), t.file) === t.sha256
  } catch {
    return false
  }
}

// ---------------------------------------------------------------- download

export class TraceError extends Data.TaggedError("TraceError")<{ readonly message: string }> {}

/** What a download reports as it goes (for a progress bar). */
export interface FetchProgress {
  readonly start: (t: TraceEntry, url: string, total: number | null) => void
  readonly bytes: (t: TraceEntry, received: number, total: number | null) => void
  readonly done: (t: TraceEntry, path: string, received: number) => void
}

export interface FetchOptions {
  /** The cache directory (default cacheDir()). */
  readonly dir?: string
  /** Replaces the URL's directory: `${baseUrl}/${file}` ($DYNCLUSTER_TRACES_URL; for mirrors and tests). */
  readonly baseUrl?: string | undefined
  readonly progress?: FetchProgress
}

/** The URL a trace is fetched from. */
export const traceUrl = (t: TraceEntry, baseUrl?: string): string =>
  baseUrl !== undefined && baseUrl !== "" ? `${baseUrl.replace(/\/+$/, "")}/${t.file}` : t.url

const kB = (n: number) => `${Math.round(n / 1000).toLocaleString("en")} kB`

/**
 * Downloads a catalogue trace into the cache and checks it. The bytes go to a
 * temporary file beside the target, the decompressed content is hashed as it
 * arrives, and only a complete, matching download is renamed into place; on
 * any failure the temporary file is removed and nothing is left in the cache.
 */
export const fetchTrace = (t: TraceEntry, options: FetchOptions = {}): Effect.Effect<string, TraceError> =>
  Effect.tryPromise({
    try: (signal) => download(t, options, signal),
    catch: (e) => (e instanceof TraceError ? e : new TraceError({ message: `${t.name}: ${String(e)}` }))
  })

const download = async (t: TraceEntry, options: FetchOptions, signal: AbortSignal): Promise<string> => {
  const dir = options.dir ?? cacheDir()
  const url = traceUrl(t, options.baseUrl)
  const fail = (why: string) => new TraceError({ message: `${t.name}: ${why} (${url}); nothing was saved` })
  try {
    mkdirSync(dir, { recursive: true })
  } catch (e) {
    throw new TraceError({ message: `${t.name}: cannot create the cache directory ${dir}: ${(e as Error).message}` })
  }
  const target = join(dir, t.file)
  const part = join(dir, `.${t.file}.${process.pid}.part`)
  let response: Response
  try {
    response = await fetch(url, { signal })
  } catch (e) {
    throw fail(`cannot download: ${causeOf(e)}`)
  }
  if (!response.ok || response.body === null) throw fail(`the server answered ${response.status} ${response.statusText}`.trim())
  const header = Number(response.headers.get("content-length"))
  const total = Number.isFinite(header) && header > 0 ? header : null
  options.progress?.start(t, url, total ?? t.size)
  const out = createWriteStream(part, { mode: 0o644 })
  const hash = createHash("sha256")
  const gunzip = t.file.endsWith(".gz") ? createGunzip() : null
  // settles when the decompressed stream ends or fails (never rejects: the error is kept for later)
  let gzError: Error | null = null
  const unzipped = new Promise<void>((ok) => {
    if (gunzip === null) return ok()
    gunzip.on("data", (c: Buffer) => hash.update(c))
    gunzip.on("end", () => ok())
    gunzip.on("error", (e) => {
      gzError = e
      ok()
    })
  })
  let received = 0
  try {
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        received += chunk.length
        if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()))
        if (gunzip === null) hash.update(chunk)
        else if (gzError === null && !gunzip.destroyed) gunzip.write(chunk)
        options.progress?.bytes(t, received, total ?? t.size)
      }
    } catch (e) {
      throw fail(`download interrupted after ${kB(received)}${total !== null ? ` of ${kB(total)}` : ""}: ${causeOf(e)}`)
    }
    await new Promise<void>((ok, ko) => {
      out.once("error", ko)
      out.end(() => ok())
    })
    if (total !== null && received !== total) throw fail(`download interrupted after ${kB(received)} of ${kB(total)}`)
    if (gunzip !== null) {
      if (!gunzip.destroyed) gunzip.end()
      await unzipped
      const e = gzError as Error | null
      if (e !== null) throw fail(`the download is not a valid gzip file (${e.message}): corrupt or not a trace`)
    }
    const sum = hash.digest("hex")
    if (sum !== t.sha256) throw fail(`checksum mismatch: the content's sha256 is ${sum.slice(0, 12)}…, the catalogue says ${t.sha256.slice(0, 12)}…: corrupt or a different file`)
    chmodSync(part, 0o644)
    renameSync(part, target)
  } catch (e) {
    out.destroy()
    gunzip?.destroy()
    rmSync(part, { force: true })
    throw e instanceof TraceError ? e : fail(causeOf(e))
  }
  options.progress?.done(t, target, received)
  return target
}

const causeOf = (e: unknown): string => {
  const err = e as Error & { cause?: Error & { code?: string } }
  const c = err?.cause
  return c !== undefined && c !== null && typeof c === "object" && "message" in c ? `${err.message}: ${c.code ?? c.message}` : String(err?.message ?? e)
}
