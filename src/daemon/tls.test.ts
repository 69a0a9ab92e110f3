/**
 * HTTPS for the admin API (#23): `admin-server.tls: {cert_file, key_file}`,
 * the certificate read again on SIGHUP (a bad one keeps the old), and the
 * start-up warnings when the API listens beyond the machine without TLS or
 * without a token. Certificates are made by openssl in the test.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { get as httpsGet } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "node:tls"
import { afterEach, describe, expect, it } from "vitest"
import { startDyncluster, type Daemon } from "./testing/process.ts"

const openssl = spawnSync("openssl", ["version"]).status === 0
const required = process.env.CI === "true"

const scenario = (adminServer: string) => `name: tls-test
seed: 1
config:
  dynamic-cluster: {admin-server: ${adminServer}}
  cluster: {type: simulated}
  cloud:
    os: {type: simulated, quantity: {min: 0, max: 1}, config: {instance_name_prefix: tls-os}}
cluster:
  physical: {count: 1, cores: 1, prefix: phys}
clouds:
  os: {cores: 1, boot_time: 10}
workload:
  type: jobs
  jobs: [{submit: 0, cores: 1, runtime: 10}]
`

/** A self-signed certificate for 127.0.0.1 with common name `cn`. */
const makeCertificate = (dir: string, cn: string) => {
  const cert = join(dir, `${cn}.crt`)
  const key = join(dir, `${cn}.key`)
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${cn}`, "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" })
  return { cert, key }
}

/** The common name of the certificate the server presents to a new connection. */
const peerName = (port: number) =>
  new Promise<string>((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject.CN
      s.end()
      resolve(String(Array.isArray(cn) ? cn[0] : cn))
    })
    s.on("error", reject)
  })

const json = (line: string): Record<string, unknown> => {
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return {}
  }
}

const daemons: Array<Daemon> = []
afterEach(() => {
  for (const d of daemons.splice(0)) d.kill("SIGKILL")
})

describe("the admin API over TLS", () => {
  const title = openssl ? "HTTPS with the configured certificate; SIGHUP reloads it; a bad one keeps the old" : "HTTPS (SKIPPED: openssl not installed; apt-get install -y openssl)"
  it.skipIf(!openssl && !required)(title, async () => {
    if (!openssl) throw new Error("openssl not found: install it with `apt-get install -y openssl` (required when CI=true)")
    const dir = mkdtempSync(join(tmpdir(), "dc-tls-"))
    const first = makeCertificate(dir, "dyncluster-first")
    const second = makeCertificate(dir, "dyncluster-second")
    const cert = join(dir, "api.crt")
    const key = join(dir, "api.key")
    const copy = (c: { cert: string; key: string }) => {
      writeFileSync(cert, execFileSync("cat", [c.cert]))
      writeFileSync(key, execFileSync("cat", [c.key]))
    }
    copy(first)
    const file = join(dir, "scenario.yaml")
    writeFileSync(file, scenario(`{tls: {cert_file: ${cert}, key_file: ${key}}}`))
    const d = startDyncluster(["run", "--sim", file, "--port", "0", "--log-format", "json"])
    daemons.push(d)
    const url = json(await d.waitForLine((l) => json(l).url !== undefined, 120_000)).url as string
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const port = Number(new URL(url).port)
    // a client that trusts the certificate gets the API
    const status = await new Promise<{ code: number; body: string }>((resolve, reject) =>
      httpsGet(`${url}/server/status`, { ca: execFileSync("cat", [first.cert]) }, (res) => {
        let body = ""
        res.on("data", (b) => (body += b))
        res.on("end", () => resolve({ code: res.statusCode ?? 0, body }))
      }).on("error", reject)
    )
    expect(status.code).toBe(200)
    expect(JSON.parse(status.body).auto_mode).toBe(true)
    expect(await peerName(port)).toBe("dyncluster-first")
    const msgs = () => d.stdout.map((l) => String(json(l).msg ?? ""))
    expect(msgs().some((m) => m.startsWith("the API is served over HTTPS"))).toBe(true)

    // a renewed certificate: SIGHUP, and new connections get it
    copy(second)
    d.kill("SIGHUP")
    await d.waitForLine((l) => String(json(l).msg).startsWith("reloaded "), 60_000)
    expect(msgs()).toContain(`reload: TLS certificate reloaded from ${cert}`)
    expect(await peerName(port)).toBe("dyncluster-second")

    // a broken one: logged, the old one stays
    writeFileSync(cert, "not a certificate\n")
    d.kill("SIGHUP")
    await d.waitForLine((l) => String(json(l).msg).startsWith("reload: TLS certificate not reloaded"), 60_000)
    expect(await peerName(port)).toBe("dyncluster-second")
    d.kill("SIGTERM")
    expect((await d.exited).code).toBe(0)
  }, 240_000)

  it("a missing certificate file stops start-up naming the key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-tls-"))
    const file = join(dir, "scenario.yaml")
    writeFileSync(file, scenario(`{tls: {cert_file: ${dir}/none.crt, key_file: ${dir}/none.key}}`))
    const d = startDyncluster(["run", "--sim", file, "--port", "0", "--log-format", "json"])
    daemons.push(d)
    expect((await d.exited).code).toBe(1)
    expect(d.stderr.join("\n")).toBe(`dyncluster run: dynamic-cluster.admin-server.tls.cert_file: ${dir}/none.crt: no such file`)
  }, 120_000)

  it("beyond the machine without TLS or a token: a warning for each at start-up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dc-tls-"))
    const file = join(dir, "scenario.yaml")
    writeFileSync(file, scenario("{}"))
    const d = startDyncluster(["run", "--sim", file, "--host", "0.0.0.0", "--port", "0", "--log-format", "json"])
    daemons.push(d)
    await d.waitForLine((l) => String(json(l).msg).includes("over plain HTTP"), 120_000)
    const warnings = d.stdout.map(json).filter((l) => l.level === "warn").map((l) => String(l.msg))
    expect(warnings).toContain("the API listens on 0.0.0.0 without a token: anyone who can reach it can change the cluster (set admin-server.token or DYNCLUSTER_TOKEN)")
    expect(warnings).toContain(
      "the API listens on 0.0.0.0 over plain HTTP: the token and every answer cross the network unencrypted (set admin-server.tls: {cert_file, key_file}, or put a TLS proxy in front)"
    )
    d.kill("SIGTERM")
    expect((await d.exited).code).toBe(0)
  }, 120_000)
})
