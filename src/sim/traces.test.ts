/**
 * The trace catalogue and `traces fetch`, against a local HTTP server (no
 * internet in CI): a good download lands verified in the cache; a corrupt, a
 * truncated or a refused one leaves nothing there and says what happened.
 */
import { Effect, Either } from "effect"
import { execa } from "execa"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  CATALOGUE,
  cacheDir,
  contentSha256,
  fetchTrace,
  findTrace,
  notHere,
  PACKAGE_ROOT,
  resolveTraceFile,
  sharedTracesDir,
  unknownTrace,
  type TraceEntry
} from "./traces.ts"

const SHARED = sharedTracesDir()
const haveShared = existsSync(SHARED)
if (!haveShared) console.warn(`traces.test: ${SHARED} not found: the catalogue's checksums and the CLI download are not checked`)

const swf = Array.from({ length: 200 }, (_, i) => `${i + 1} ${i * 10} 0 100 4 -1 -1 4 200 -1 1 1 1 -1 1 -1 -1 -1`).join("\n") + "\n"
const gz = gzipSync(swf)
const entry: TraceEntry = {
  name: "TEST-1999-1.0-cln",
  file: "TEST-1999-1.0-cln.swf.gz",
  url: "http://unused.invalid/TEST-1999-1.0-cln.swf.gz",
  size: gz.length,
  sha256: contentSha256(gz, "x.gz"),
  jobs: 200,
  description: "test"
}

/** What the server answers for each path. */
type Reply = { kind: "ok"; body: Uint8Array } | { kind: "cut"; body: Uint8Array; claim: number } | { kind: "status"; code: number }
const replies = new Map<string, Reply>()
let server: Server
let base = ""
const dirs: Array<string> = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "dc-traces-"))
  dirs.push(d)
  return d
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const r = replies.get(req.url ?? "")
    if (r === undefined) return void res.writeHead(404).end("not found")
    if (r.kind === "status") return void res.writeHead(r.code).end()
    if (r.kind === "ok") return void res.writeHead(200, { "content-length": r.body.length }).end(r.body)
    // claims more than it sends, then drops the connection: an interrupted download
    res.writeHead(200, { "content-length": r.claim })
    res.write(r.body, () => setTimeout(() => res.socket?.destroy(), 20))
  })
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  server?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const fetchInto = (dir: string, prefix: string, t: TraceEntry = entry) => Effect.runPromise(Effect.either(fetchTrace(t, { dir, baseUrl: `${base}/${prefix}` })))

describe("traces fetch (local server)", () => {
  it("downloads, verifies the decompressed content and moves the file into place (not executable)", async () => {
    replies.set(`/good/${entry.file}`, { kind: "ok", body: gz })
    const dir = tmp()
    const seen: Array<string> = []
    const r = await Effect.runPromise(
      fetchTrace(entry, {
        dir,
        baseUrl: `${base}/good/`,
        progress: { start: (_t, url, total) => seen.push(`start ${url} ${total}`), bytes: () => {}, done: (_t, p) => seen.push(`done ${p}`) }
      })
    )
    expect(r).toBe(join(dir, entry.file))
    expect(readFileSync(r)).toEqual(Buffer.from(gz))
    expect(statSync(r).mode & 0o111).toBe(0)
    expect(readdirSync(dir)).toEqual([entry.file])
    expect(seen).toEqual([`start ${base}/good/${entry.file} ${gz.length}`, `done ${r}`])
  })

  it("a corrupt download (other content) is refused and leaves nothing in the cache", async () => {
    replies.set(`/other/${entry.file}`, { kind: "ok", body: gzipSync(swf.replace("200 -1 1", "999 -1 1")) })
    const dir = tmp()
    const r = await fetchInto(dir, "other")
    expect(Either.isLeft(r) && r.left.message).toMatch(/^TEST-1999-1\.0-cln: checksum mismatch: .*corrupt or a different file \(http:.*\); nothing was saved$/)
    expect(readdirSync(dir)).toEqual([])
  })

  it("bytes that are not gzip are refused, nothing left", async () => {
    replies.set(`/garbage/${entry.file}`, { kind: "ok", body: Buffer.from("<html>an error page</html>") })
    const dir = tmp()
    const r = await fetchInto(dir, "garbage")
    expect(Either.isLeft(r) && r.left.message).toMatch(/not a valid gzip file.*nothing was saved$/)
    expect(readdirSync(dir)).toEqual([])
  })

  it("an interrupted download says how far it got and leaves nothing", async () => {
    replies.set(`/cut/${entry.file}`, { kind: "cut", body: gz.subarray(0, 300), claim: gz.length })
    const dir = tmp()
    const r = await fetchInto(dir, "cut")
    expect(Either.isLeft(r) && r.left.message).toMatch(/^TEST-1999-1\.0-cln: download interrupted after 0 kB of \d+ kB.*nothing was saved$/)
    expect(readdirSync(dir)).toEqual([])
  })

  it("an HTTP error and an unreachable server are named", async () => {
    replies.set(`/gone/${entry.file}`, { kind: "status", code: 404 })
    const dir = tmp()
    const r = await fetchInto(dir, "gone")
    expect(Either.isLeft(r) && r.left.message).toMatch(/the server answered 404 Not Found/)
    // a port nobody listens on (bound, then closed)
    const probe = createServer()
    await new Promise<void>((ok) => probe.listen(0, "127.0.0.1", ok))
    const port = (probe.address() as AddressInfo).port
    await new Promise((ok) => probe.close(ok))
    const closed = await Effect.runPromise(Effect.either(fetchTrace(entry, { dir, baseUrl: `http://127.0.0.1:${port}` })))
    expect(Either.isLeft(closed) && closed.left.message).toMatch(/^TEST-1999-1\.0-cln: cannot download: fetch failed: ECONNREFUSED \(http:.*\); nothing was saved$/)
    expect(readdirSync(dir)).toEqual([])
  })
})

describe("finding a trace", () => {
  it("a path is used as it is; a catalogue name is looked up in the directories, else one line says how to fetch it", () => {
    const dir = tmp()
    const cache = tmp()
    const lookup = { catalogue: [entry], dirs: [join(dir, "no-shared"), cache] }
    writeFileSync(join(dir, "own.swf"), swf)
    expect(resolveTraceFile("own.swf", dir, lookup)).toEqual({ path: join(dir, "own.swf") })
    expect(resolveTraceFile(entry.name, dir, lookup)).toEqual({ problem: notHere(entry), missing: entry })
    expect(notHere(entry)).toBe("trace TEST-1999-1.0-cln is not here: run 'dyncluster traces fetch TEST-1999-1.0-cln'")
    // an old-style path to a catalogue file that is not there is looked up too
    expect(resolveTraceFile("../../shared/traces/TEST-1999-1.0-cln.swf.gz", dir, lookup)).toEqual({ problem: notHere(entry), missing: entry })
    expect(resolveTraceFile("nope.swf", dir, lookup)).toEqual({ problem: `trace file not found: ${join(dir, "nope.swf")}`, missing: null })
    writeFileSync(join(cache, entry.file), gz)
    expect(resolveTraceFile(entry.name, dir, lookup)).toEqual({ path: join(cache, entry.file) })
  })

  it("the cache is $DYNCLUSTER_TRACES, else under XDG_CACHE_HOME, else ~/.cache", () => {
    expect(cacheDir({ DYNCLUSTER_TRACES: "/data/traces", XDG_CACHE_HOME: "/x" })).toBe("/data/traces")
    expect(cacheDir({ XDG_CACHE_HOME: "/x" })).toBe("/x/dyncluster/traces")
    expect(cacheDir({ HOME: "/home/u" })).toBe("/home/u/.cache/dyncluster/traces")
  })

  it("an unknown name gets a suggestion", () => {
    expect(findTrace("KTH-SP2-1996-2.1-cln")?.file).toBe("KTH-SP2-1996-2.1-cln.swf.gz")
    expect(unknownTrace("KTH-SP2-1996-2.1-cnl")).toMatch(/^unknown trace "KTH-SP2-1996-2.1-cnl" \(did you mean KTH-SP2-1996-2.1-cln\?\) \(known: /)
  })
})

describe.skipIf(!haveShared)("the catalogue against ../shared/traces", () => {
  it("every entry's checksum and size are those of the team's copy", () => {
    for (const t of CATALOGUE) {
      const bytes = readFileSync(join(SHARED, t.file))
      expect(contentSha256(bytes, t.file), t.name).toBe(t.sha256)
      expect(bytes.length, t.name).toBe(t.size)
    }
  })

  it("dyncluster traces fetch downloads from $DYNCLUSTER_TRACES_URL into $DYNCLUSTER_TRACES; a second fetch finds it there", { timeout: 300_000 }, async () => {
    const t = findTrace("NASA-iPSC-1993-3.1-cln")!
    replies.set(`/mirror/${t.file}`, { kind: "ok", body: readFileSync(join(SHARED, t.file)) })
    const cache = tmp()
    const run = () =>
      execa("node", [join(PACKAGE_ROOT, "bin/dyncluster.js"), "traces", "fetch", t.name], {
        cwd: PACKAGE_ROOT,
        reject: false,
        env: { DYNCLUSTER_TRACES: cache, DYNCLUSTER_TRACES_URL: `${base}/mirror`, FORCE_COLOR: "0" }
      })
    const first = await run()
    expect(first.exitCode, first.stderr).toBe(0)
    expect(first.stderr).toContain(`fetching ${t.name} (0.2 MB) from ${base}/mirror/${t.file}`)
    expect(first.stderr).toContain(`${t.name}: 0.2 MB, checksum verified, saved as ${join(cache, t.file)}`)
    expect(readdirSync(cache)).toEqual([t.file])
    const second = await run()
    expect(second.stderr.trim()).toBe(`${t.name}: already in the cache (${join(cache, t.file)})`)
    const bad = await execa("node", [join(PACKAGE_ROOT, "bin/dyncluster.js"), "traces", "fetch", "KTH"], { cwd: PACKAGE_ROOT, reject: false })
    expect(bad.exitCode).toBe(1)
    expect(bad.stderr).toMatch(/unknown trace "KTH"/)
  })
})
