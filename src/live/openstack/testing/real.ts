/**
 * The real OpenStack of ci/setup-50-openstack.sh (Keystone 22 + Nova 26, Zed,
 * on 127.0.0.1; ci/openstack/README.md), for the integration tests: is it
 * there (skip visibly, or fail when CI=true), its credentials, and what an
 * administrator does behind the scaler's back (quotas, revoking a token,
 * deleting a server), over plain HTTP with the admin account.
 */
import { existsSync, readFileSync } from "node:fs"
import { describe, it } from "vitest"

export const OS_LOCAL_DIR = process.env.OS_LOCAL_DIR ?? "/var/lib/openstack-local"

export interface RealOpenStack {
  readonly authUrl: string
  readonly region: string
  readonly user: string
  readonly password: string
  readonly adminPassword: string
  /** The tiny image and the flavours os-up.sh made. */
  readonly imageId: string
}

const readEnv = (): Record<string, string> | string => {
  const file = `${OS_LOCAL_DIR}/env`
  if (!existsSync(file)) return `no ${file} (run: bash ci/setup-50-openstack.sh)`
  try {
    const out: Record<string, string> = {}
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim())
      if (m !== null) out[m[1]] = m[2]
    }
    return out
  } catch (e) {
    return `cannot read ${file}: ${String(e)} (the tests run as root)`
  }
}

/** `cloud.<res>.config` of an OpenStack resource in one of os-up.sh's projects (dc.small: 2 vCPUs, no network). */
export const resourceConfig = (os: RealOpenStack, project: string, prefix: string, over: Record<string, unknown> = {}) => ({
  auth_url: os.authUrl,
  username: os.user,
  password: os.password,
  project,
  image_uuid: os.imageId,
  flavor: "dc.small",
  instance_name_prefix: prefix,
  network: "none",
  region: os.region,
  api_timeout: 60,
  ...over
})

interface Token {
  readonly id: string
  readonly compute: string
  readonly image: string
}

const post = async (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) })

export const passwordToken = async (authUrl: string, user: string, password: string, project: string): Promise<Token> => {
  const r = await post(`${authUrl}/auth/tokens`, {
    auth: {
      identity: { methods: ["password"], password: { user: { name: user, domain: { name: "Default" }, password } } },
      scope: { project: { name: project, domain: { name: "Default" } } }
    }
  })
  if (r.status !== 201) throw new Error(`Keystone: ${r.status} ${await r.text()}`)
  const body = (await r.json()) as any
  const url = (type: string) => body.token.catalog.find((c: any) => c.type === type).endpoints.find((e: any) => e.interface === "public").url as string
  return { id: r.headers.get("x-subject-token")!, compute: url("compute"), image: url("image") }
}

/** Why the real OpenStack cannot be used (null when it can), and its coordinates. */
const probe = async (): Promise<{ why: string } | { os: RealOpenStack }> => {
  const env = readEnv()
  if (typeof env === "string") return { why: env }
  try {
    const t = await passwordToken(env.OS_LOCAL_AUTH_URL, env.OS_LOCAL_USER, env.OS_LOCAL_PASSWORD, "dc-contract")
    const r = await fetch(`${t.image}/v2/images?name=dc-tiny`, { headers: { "X-Auth-Token": t.id }, signal: AbortSignal.timeout(60_000) })
    const images = ((await r.json()) as any).images as Array<{ id: string }>
    if (images.length === 0) return { why: "image dc-tiny missing: run bash ci/setup-50-openstack.sh" }
    const f = await fetch(`${t.compute}/flavors`, { headers: { "X-Auth-Token": t.id }, signal: AbortSignal.timeout(60_000) })
    if (f.status !== 200) return { why: `Nova answers ${f.status} to GET /flavors: start it with bash ci/setup-50-openstack.sh` }
    return {
      os: {
        authUrl: env.OS_LOCAL_AUTH_URL,
        region: env.OS_LOCAL_REGION,
        user: env.OS_LOCAL_USER,
        password: env.OS_LOCAL_PASSWORD,
        adminPassword: env.OS_LOCAL_ADMIN_PASSWORD,
        imageId: images[0].id
      }
    }
  } catch (e) {
    return { why: `the OpenStack of ci/setup-50-openstack.sh does not answer (${String(e)})` }
  }
}

const found = await probe()

/**
 * Registers the suite with the real OpenStack: skipped with a visible warning
 * when it is missing, a failing test when CI=true (CI must run these).
 */
export const describeWithOpenStack = (name: string, body: (os: RealOpenStack) => void): void => {
  if ("why" in found) {
    if (process.env.CI === "true") {
      describe(name, () => {
        it("needs the real OpenStack of ci/setup-50-openstack.sh (CI=true: not skipped)", () => {
          throw new Error(found.why)
        })
      })
      return
    }
    console.warn(`[${name}] skipped: ${found.why}`)
    describe.skip(name, () => it("needs the real OpenStack", () => {}))
    return
  }
  const os = found.os
  describe(name, () => body(os))
}

/** The admin's view of one project: quotas, its servers, revoking tokens. */
export const admin = (os: RealOpenStack) => {
  let cached: Token | null = null
  const token = async () => (cached ??= await passwordToken(os.authUrl, "admin", os.adminPassword, "admin"))
  const req = async (method: string, url: string, body?: unknown, extra: Record<string, string> = {}) => {
    const t = await token()
    const r = await fetch(url.startsWith("http") ? url : `${t.compute}${url}`, {
      method,
      headers: { "X-Auth-Token": t.id, "Content-Type": "application/json", "OpenStack-API-Version": "compute 2.37", ...extra },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(60_000)
    })
    const text = await r.text()
    return { status: r.status, body: text === "" ? null : (JSON.parse(text) as any) }
  }
  const projectId = async (name: string): Promise<string> => {
    const r = await req("GET", `${os.authUrl}/projects?name=${encodeURIComponent(name)}`)
    return r.body.projects[0].id
  }
  /** Servers of the project whose name starts with `prefix-`, with their status and task state. */
  const servers = async (project: string, prefix: string): Promise<Array<{ id: string; name: string; status: string; task: string | null }>> => {
    const pid = await projectId(project)
    const r = await req("GET", `/servers/detail?all_tenants=1&project_id=${pid}&name=${encodeURIComponent(`^${prefix}-`)}`)
    // Nova keeps listing a server it has just deleted, as status DELETED, for a while (seen for
    // a minute on a busy machine): gone, as far as anyone is concerned
    return (r.body.servers as Array<any>)
      .filter((s) => s.name.startsWith(`${prefix}-`) && s.status !== "DELETED")
      .map((s) => ({ id: s.id, name: s.name, status: s.status, task: s["OS-EXT-STS:task_state"] ?? null }))
  }
  return {
    setInstanceQuota: async (project: string, instances: number) => {
      const r = await req("PUT", `/os-quota-sets/${await projectId(project)}`, { quota_set: { instances } })
      if (r.status !== 200) throw new Error(`quota: ${r.status} ${JSON.stringify(r.body)}`)
    },
    servers,
    /** Until no server of the prefix is building or being deleted (bounded). */
    settle: async (project: string, prefix: string, ms = 120_000) => {
      const end = Date.now() + ms
      for (;;) {
        const busy = (await servers(project, prefix)).filter((s) => s.status === "BUILD" || s.task === "deleting")
        if (busy.length === 0 || Date.now() > end) return
        await new Promise((r) => setTimeout(r, 1000))
      }
    },
    deleteServer: async (id: string) => void (await req("DELETE", `/servers/${id}`)),
    /** Deletes every server of the prefix and waits until they are gone. */
    purge: async (project: string, prefix: string, ms = 120_000) => {
      const end = Date.now() + ms
      for (;;) {
        const left = await servers(project, prefix)
        if (left.length === 0 || Date.now() > end) return left.length
        for (const s of left) if (s.task !== "deleting") await req("DELETE", `/servers/${s.id}`)
        await new Promise((r) => setTimeout(r, 1000))
      }
    },
    /** Boots a server in the project as the test user (someone else's VM, as far as the scaler knows). */
    bootAs: async (project: string, name: string) => {
      const t = await passwordToken(os.authUrl, os.user, os.password, project)
      const flavors = (await (await fetch(`${t.compute}/flavors`, { headers: { "X-Auth-Token": t.id } })).json()) as any
      const r = await post(
        `${t.compute}/servers`,
        { server: { name, imageRef: os.imageId, flavorRef: flavors.flavors.find((f: any) => f.name === "dc.tiny").id, networks: "none" } },
        { "X-Auth-Token": t.id, "OpenStack-API-Version": "compute 2.37" }
      )
      if (r.status !== 202) throw new Error(`boot ${name}: ${r.status} ${await r.text()}`)
    },
    /** A public flavour of that size, made when missing (an admin's act: os-up.sh makes only dc.tiny and dc.small). */
    ensureFlavor: async (name: string, size: { vcpus: number; ram: number; disk: number }) => {
      const have = await req("GET", `/flavors?is_public=None`)
      if ((have.body.flavors as Array<any>).some((f) => f.name === name)) return
      const r = await req("POST", `/flavors`, { flavor: { name, ...size, "os-flavor-access:is_public": true } })
      // 409: made meanwhile by a parallel run
      if (r.status !== 200 && r.status !== 409) throw new Error(`flavour ${name}: ${r.status} ${JSON.stringify(r.body)}`)
    },
    /** Keystone revokes this token (DELETE /v3/auth/tokens): services refuse it from now on. */
    revoke: async (tokenId: string) => {
      const r = await req("DELETE", `${os.authUrl}/auth/tokens`, undefined, { "X-Subject-Token": tokenId })
      if (r.status !== 204) throw new Error(`revoke: ${r.status} ${JSON.stringify(r.body)}`)
    }
  }
}
