/**
 * An in-process OpenStack (Keystone v3 + Nova v2.1 + a sliver of Neutron)
 * on 127.0.0.1 for tests, answering like the real APIs, with switches for
 * the failures the scaler must survive (quota, rate limits, 5xx, expired
 * tokens, slow answers, dropped connections, servers that end in ERROR).
 *
 * Where the shapes come from (OpenStack API references):
 * - Identity v3 "Password authentication with scoped authorization" and
 *   "Authenticating with an Application Credential": POST /v3/auth/tokens →
 *   201, token id in the X-Subject-Token header, body
 *   `{"token": {"expires_at", "issued_at", "methods", "user", "project",
 *   "catalog": [{"type", "name", "endpoints": [{"interface", "region",
 *   "region_id", "url"}]}]}}`; bad credentials → 401
 *   `{"error": {"code": 401, "title": "Unauthorized", "message"}}`.
 * - Compute "List Servers Detailed" (GET /servers/detail, `name` is a regular
 *   expression, `limit`/`marker` paging with `servers_links` rel "next" when a
 *   page is full), "Show Server Details" (status BUILD/ACTIVE/ERROR,
 *   `OS-EXT-STS:task_state` scheduling/spawning/deleting, `OS-EXT-STS:vm_state`,
 *   `hostId` "" until scheduled, `addresses` with `OS-EXT-IPS:type`, `fault`
 *   on ERROR), "Create Server" (202 `{"server": {"id", "links", "adminPass",
 *   "OS-DCF:diskConfig", "security_groups"}}`), "Delete Server" (204),
 *   "List Flavors With Details"; errors as `{"itemNotFound"|"badRequest"|
 *   "forbidden"|"overLimit"|"computeFault": {"code", "message"}}`, quota as
 *   403 "Quota exceeded for instances: ...", rate limits as 429 with
 *   Retry-After (Compute API guide "Limits").
 * - Networking v2 "List networks" (GET /v2.0/networks?name=).
 *
 * Addresses handed out are 10.0.x.y: they are data only, nothing connects
 * to them (use `reverseDns` for host names).
 */
import { randomUUID } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { loopbackServer, type LoopbackServer } from "../../testing/loopback-server.ts"

export interface FakeFlavor {
  readonly id: string
  readonly name: string
  readonly vcpus: number
  readonly ram: number
}

export interface FakeServer {
  id: string
  name: string
  status: "BUILD" | "ACTIVE" | "ERROR" | "DELETED" | "SHUTOFF"
  taskState: string | null
  vmState: string
  hostId: string
  ip: string | null
  flavorId: string
  imageId: string
  keyName: string | null
  securityGroups: Array<string>
  az: string
  /** The network it is attached to; null: booted with "networks": "none" (no address ever). */
  network: string | null
  userData: string | null
  created: string
  /** Boot ends in ERROR (no valid host). */
  doomed: boolean
  fault: { code: number; message: string } | null
}

export type Fault =
  | { readonly kind: "status"; readonly status: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  | { readonly kind: "drop" }
  /** The request is carried out, then the connection is cut before the answer. */
  | { readonly kind: "dropAfter" }
  | { readonly kind: "delay"; readonly ms: number }
  | { readonly kind: "garbage"; readonly text: string }

export interface Injection {
  readonly method?: string
  readonly path?: RegExp
  /** How many matching requests get the fault (default 1). */
  times: number
  readonly fault: Fault
}

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly query: Record<string, string>
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: unknown
}

export interface FakeOpenStackOptions {
  readonly users?: ReadonlyArray<{ name: string; password: string; project: string; domain?: string }>
  readonly appCredentials?: ReadonlyArray<{ id: string; secret: string }>
  readonly flavors?: ReadonlyArray<FakeFlavor>
  readonly images?: ReadonlyArray<string>
  readonly networks?: ReadonlyArray<{ id: string; name: string }>
  readonly region?: string
  /** Seconds a token lives (default 3600). */
  readonly tokenTtl?: number
  /** Instances the project may have (default unlimited). */
  readonly quota?: number
  /** Each GET of a server moves it one step along its boot (default true). */
  readonly autoAdvance?: boolean
}

const DEFAULT_FLAVORS: ReadonlyArray<FakeFlavor> = [
  { id: "1", name: "m1.tiny", vcpus: 1, ram: 512 },
  { id: "2", name: "m1.small", vcpus: 2, ram: 2048 },
  { id: "3", name: "m1.medium", vcpus: 4, ram: 4096 },
  { id: "4", name: "m1.large", vcpus: 8, ram: 8192 }
]

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = body === undefined ? "" : JSON.stringify(body)
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)), ...headers })
  res.end(text)
}

/** Nova Zed's microversion range (GET /v2.1/ "version": "2.93", "min_version": "2.1"). */
export const FAKE_MAX_MICROVERSION = "2.93"

const parseMv = (v: string): [number, number] | null => {
  const m = /^(\d+)\.(\d+)$/.exec(v.trim())
  return m === null ? null : [Number(m[1]), Number(m[2])]
}
const mvAtLeast = (v: [number, number], major: number, minor: number) => v[0] > major || (v[0] === major && v[1] >= minor)

const novaError = (res: ServerResponse, status: number, key: string, message: string, headers: Record<string, string> = {}) =>
  json(res, status, { [key]: { code: status, message } }, headers)

export class FakeOpenStack {
  url = ""
  readonly requests: Array<RecordedRequest> = []
  readonly servers = new Map<string, FakeServer>()
  readonly injections: Array<Injection> = []
  readonly tokens = new Map<string, { expires: number; revoked: boolean }>()
  quota: number
  tokenTtl: number
  autoAdvance: boolean
  /** The next N boots end in ERROR ("No valid host was found"). */
  failBoots = 0
  private counter = 0
  private readonly server: LoopbackServer
  readonly flavors: ReadonlyArray<FakeFlavor>
  readonly images: ReadonlyArray<string>
  readonly networks: ReadonlyArray<{ id: string; name: string }>

  constructor(readonly options: FakeOpenStackOptions = {}) {
    this.quota = options.quota ?? Infinity
    this.tokenTtl = options.tokenTtl ?? 3600
    this.autoAdvance = options.autoAdvance ?? true
    this.flavors = options.flavors ?? DEFAULT_FLAVORS
    this.images = options.images ?? ["1b66d8cd-7d10-413a-ae06-3b61560e788a"]
    this.networks = options.networks ?? [{ id: "4c2b6a1e-0000-4000-8000-00000000beef", name: "private" }]
    this.server = loopbackServer(
      (req, res) => this.handle(req, res),
      (res, e) => novaError(res, 500, "computeFault", `fake: ${String(e)}`)
    )
  }

  async start(): Promise<this> {
    this.url = await this.server.start()
    return this
  }

  async stop(): Promise<void> {
    await this.server.stop()
  }

  get authUrl(): string {
    return `${this.url}/identity/v3`
  }

  /** Add a fault for the next matching request(s). */
  inject(i: Omit<Injection, "times"> & { times?: number }): void {
    this.injections.push({ ...i, times: i.times ?? 1 })
  }

  /** Every token issued so far stops working (as after a Keystone key rotation). */
  revokeTokens(): void {
    for (const t of this.tokens.values()) t.revoked = true
  }

  /** Host names for the addresses handed out: `<server name>.cloud.test`. */
  readonly reverseDns = async (ip: string): Promise<ReadonlyArray<string>> => {
    for (const s of this.servers.values()) if (s.ip === ip) return [`${s.name}.cloud.test.`]
    const e = new Error(`getHostByAddr ENOTFOUND ${ip}`) as NodeJS.ErrnoException
    e.code = "ENOTFOUND"
    throw e
  }

  /** Live servers (not deleted). */
  live(): Array<FakeServer> {
    return [...this.servers.values()].filter((s) => s.status !== "DELETED")
  }

  /** Move one server one step: scheduling → spawning → ACTIVE (or ERROR); deleting → gone. */
  advance(s: FakeServer): void {
    if (s.taskState === "deleting") {
      s.status = "DELETED"
      s.vmState = "deleted"
      s.taskState = null
      this.servers.delete(s.id)
      return
    }
    if (s.status !== "BUILD") return
    if (s.taskState === "scheduling") {
      if (s.doomed) {
        s.status = "ERROR"
        s.vmState = "error"
        s.taskState = null
        s.fault = { code: 500, message: "No valid host was found. There are not enough hosts available." }
        return
      }
      s.taskState = "spawning"
      s.hostId = randomUUID().replace(/-/g, "").repeat(2).slice(0, 56)
      return
    }
    s.status = "ACTIVE"
    s.vmState = "active"
    s.taskState = null
    if (s.network !== null) s.ip = `10.0.${(this.counter >> 8) & 255}.${this.counter & 255}`
    this.counter++
  }

  /** Every server to the end of its boot or deletion. */
  settle(): void {
    for (let i = 0; i < 3; i++) for (const s of [...this.servers.values()]) this.advance(s)
  }

  /** A server made by someone else in the same project (it must never be listed as ours). */
  addForeign(name: string, status: FakeServer["status"] = "ACTIVE"): FakeServer {
    const s = this.newServer(name, this.flavors[0].id, this.images[0], null, [], "nova", null)
    s.status = status
    s.vmState = status.toLowerCase()
    s.taskState = null
    s.hostId = "f".repeat(56)
    s.ip = status === "ACTIVE" ? `10.1.0.${this.servers.size}` : null
    return s
  }

  private newServer(
    name: string,
    flavorId: string,
    imageId: string,
    keyName: string | null,
    sgs: Array<string>,
    az: string,
    userData: string | null,
    network: string | null = this.networks[0]?.name ?? "private"
  ): FakeServer {
    const s: FakeServer = {
      id: randomUUID(),
      name,
      status: "BUILD",
      taskState: "scheduling",
      vmState: "building",
      hostId: "",
      ip: null,
      flavorId,
      imageId,
      keyName,
      securityGroups: sgs,
      az,
      network,
      userData,
      created: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      doomed: false,
      fault: null
    }
    this.servers.set(s.id, s)
    return s
  }

  // ------------------------------------------------------------ wire

  private serverJson(s: FakeServer) {
    const base = `${this.url}/compute/v2.1`
    const f = this.flavors.find((x) => x.id === s.flavorId)
    return {
      id: s.id,
      name: s.name,
      status: s.status,
      tenant_id: "p-demo",
      user_id: "u-demo",
      metadata: {},
      hostId: s.hostId,
      image: { id: s.imageId, links: [{ rel: "bookmark", href: `${base}/images/${s.imageId}` }] },
      flavor: { id: s.flavorId, links: [{ rel: "bookmark", href: `${base}/flavors/${s.flavorId}` }] },
      created: s.created,
      updated: s.created,
      addresses:
        s.ip === null
          ? {}
          : { [s.network ?? "private"]: [{ "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01", version: 4, addr: s.ip, "OS-EXT-IPS:type": "fixed" }, { version: 6, addr: "fd00::1", "OS-EXT-IPS:type": "fixed" }] },
      accessIPv4: "",
      accessIPv6: "",
      links: [{ rel: "self", href: `${base}/servers/${s.id}` }],
      "OS-DCF:diskConfig": "MANUAL",
      progress: 0,
      "OS-EXT-AZ:availability_zone": s.az,
      config_drive: "",
      key_name: s.keyName,
      "OS-SRV-USG:launched_at": s.status === "ACTIVE" ? s.created : null,
      "OS-SRV-USG:terminated_at": null,
      security_groups: s.securityGroups.map((name) => ({ name })),
      "OS-EXT-STS:task_state": s.taskState,
      "OS-EXT-STS:vm_state": s.vmState,
      "OS-EXT-STS:power_state": s.status === "ACTIVE" ? 1 : 0,
      "os-extended-volumes:volumes_attached": [],
      ...(s.fault !== null ? { fault: { ...s.fault, created: s.created } } : {})
    }
  }

  private async body(req: IncomingMessage): Promise<unknown> {
    const chunks: Array<Buffer> = []
    for await (const c of req) chunks.push(c as Buffer)
    const text = Buffer.concat(chunks).toString("utf8")
    if (text === "") return undefined
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? "/", this.url)
    const method = req.method ?? "GET"
    const body = await this.body(req)
    const query = Object.fromEntries(u.searchParams)
    this.requests.push({ method, path: u.pathname, query, headers: req.headers, body })

    const inj = this.injections.find((i) => i.times > 0 && (i.method === undefined || i.method === method) && (i.path === undefined || i.path.test(u.pathname)))
    if (inj !== undefined) {
      inj.times--
      const f = inj.fault
      if (f.kind === "drop") {
        req.socket.destroy()
        return
      }
      if (f.kind === "dropAfter") {
        res.writeHead = (() => res) as any
        res.end = (() => {
          req.socket.destroy()
          return res
        }) as any
      } else if (f.kind === "delay") await new Promise((r) => setTimeout(r, f.ms))
      else if (f.kind === "garbage") {
        res.writeHead(200, { "Content-Type": "application/json" })
        res.end(f.text)
        return
      } else {
        json(res, f.status, f.body ?? { computeFault: { code: f.status, message: "injected failure" } }, f.headers ?? {})
        return
      }
      if (res.destroyed) return
    }

    const p = u.pathname
    if (p === "/identity/v3/auth/tokens" && method === "POST") return this.authenticate(body, res)

    // Everything else needs a valid token (keystonemiddleware answers 401).
    const tok = req.headers["x-auth-token"]
    const t = typeof tok === "string" ? this.tokens.get(tok) : undefined
    if (t === undefined || t.revoked || Date.now() >= t.expires) {
      json(res, 401, { error: { code: 401, title: "Unauthorized", message: "The request you have made requires authentication." } })
      return
    }

    const compute = "/compute/v2.1"
    let mv: [number, number] = [2, 1]
    if (p.startsWith(`${compute}/`)) {
      // Nova reads "OpenStack-API-Version: compute X.Y" (or the older X-OpenStack-Nova-API-Version);
      // without one it answers as 2.1, and it names the version it used in its answer.
      const h = req.headers["openstack-api-version"]
      const legacy = req.headers["x-openstack-nova-api-version"]
      const asked = typeof h === "string" && /^compute\s+/i.test(h) ? h.replace(/^compute\s+/i, "") : typeof legacy === "string" ? legacy : null
      if (asked !== null) {
        const v = parseMv(asked)
        const max = parseMv(FAKE_MAX_MICROVERSION)!
        if (v === null) return novaError(res, 400, "badRequest", `Invalid API version request string: ${asked}`)
        if (!mvAtLeast(v, 2, 1) || mvAtLeast(v, max[0], max[1] + 1))
          return novaError(res, 406, "computeFault", `Version ${asked} is not supported by the API. Minimum is 2.1 and maximum is ${FAKE_MAX_MICROVERSION}.`)
        mv = v
      }
      res.setHeader("OpenStack-API-Version", `compute ${mv.join(".")}`)
      res.setHeader("X-OpenStack-Nova-API-Version", mv.join("."))
      res.setHeader("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
    }
    if (p === `${compute}/flavors/detail` && method === "GET") return this.listFlavors(u, res)
    if (p === `${compute}/servers/detail` && method === "GET") return this.listServers(u, res)
    if (p === `${compute}/servers` && method === "POST") return this.createServer(body, res, mv)
    const m = /^\/compute\/v2\.1\/servers\/([^/]+)$/.exec(p)
    if (m !== null) {
      const s = this.servers.get(decodeURIComponent(m[1]))
      if (s === undefined) return novaError(res, 404, "itemNotFound", `Instance ${m[1]} could not be found.`)
      if (method === "GET") {
        const out = this.serverJson(s)
        if (this.autoAdvance) this.advance(s)
        return json(res, 200, { server: out })
      }
      if (method === "DELETE") {
        s.taskState = "deleting"
        res.writeHead(204)
        res.end()
        return
      }
    }
    if (p === "/network/v2.0/networks" && method === "GET") {
      const name = u.searchParams.get("name")
      return json(res, 200, { networks: this.networks.filter((n) => name === null || n.name === name).map((n) => ({ ...n, status: "ACTIVE", subnets: [] })) })
    }
    novaError(res, 404, "itemNotFound", `fake: no route for ${method} ${p}`)
  }

  private authenticate(body: unknown, res: ServerResponse) {
    const b = body as any
    const identity = b?.auth?.identity
    const methods: Array<string> = identity?.methods ?? []
    let user: string | null = null
    let project: string | null = null
    if (methods.includes("password")) {
      const u = identity.password?.user
      const found = (this.options.users ?? [{ name: "demo", password: "secret", project: "demo" }]).find(
        (x) => x.name === u?.name && x.password === u?.password && (x.domain ?? "Default") === u?.domain?.name
      )
      const scope = b?.auth?.scope?.project
      if (found !== undefined && (scope?.name === found.project || scope?.id === `p-${found.project}`) && (scope?.id !== undefined || scope?.domain?.name === "Default")) {
        user = found.name
        project = found.project
      }
    } else if (methods.includes("application_credential")) {
      const c = identity.application_credential
      const found = (this.options.appCredentials ?? []).find((x) => x.id === c?.id && x.secret === c?.secret)
      if (found !== undefined) {
        user = "demo"
        project = "demo"
      }
    }
    if (user === null) {
      json(res, 401, { error: { code: 401, title: "Unauthorized", message: "The request you have made requires authentication." } })
      return
    }
    const id = `gAAAA${randomUUID().replace(/-/g, "")}`
    const now = Date.now()
    const expires = now + this.tokenTtl * 1000
    this.tokens.set(id, { expires, revoked: false })
    const region = this.options.region ?? "RegionOne"
    const ep = (type: string, path: string) => ({
      type,
      name: type === "compute" ? "nova" : type === "network" ? "neutron" : "keystone",
      id: randomUUID(),
      endpoints: [
        { id: randomUUID(), interface: "public", region, region_id: region, url: `${this.url}${path}` },
        { id: randomUUID(), interface: "internal", region, region_id: region, url: `http://internal.invalid${path}` }
      ]
    })
    json(
      res,
      201,
      {
        token: {
          methods,
          user: { domain: { id: "default", name: "Default" }, id: `u-${user}`, name: user, password_expires_at: null },
          audit_ids: [randomUUID().slice(0, 22)],
          expires_at: new Date(expires).toISOString().replace("Z", "000Z"),
          issued_at: new Date(now).toISOString().replace("Z", "000Z"),
          project: { domain: { id: "default", name: "Default" }, id: `p-${project}`, name: project },
          is_domain: false,
          roles: [{ id: "r1", name: "member" }],
          catalog: [ep("identity", "/identity/v3"), ep("compute", "/compute/v2.1"), ep("network", "/network")]
        }
      },
      { "X-Subject-Token": id }
    )
  }

  private page<T extends { id: string }>(items: Array<T>, u: URL): { page: Array<T>; next: string | null } | "bad-marker" {
    const limit = Math.min(Number(u.searchParams.get("limit") ?? "1000") || 1000, 1000)
    const marker = u.searchParams.get("marker")
    let start = 0
    if (marker !== null) {
      const i = items.findIndex((x) => x.id === marker)
      if (i < 0) return "bad-marker"
      start = i + 1
    }
    const page = items.slice(start, start + limit)
    if (page.length < limit) return { page, next: null }
    const nu = new URL(u.toString())
    nu.searchParams.set("marker", page[page.length - 1].id)
    return { page, next: nu.toString() }
  }

  private listFlavors(u: URL, res: ServerResponse) {
    const r = this.page([...this.flavors], u)
    if (r === "bad-marker") return novaError(res, 400, "badRequest", `marker [${u.searchParams.get("marker")}] not found`)
    json(res, 200, {
      flavors: r.page.map((f) => ({ ...f, disk: 10, "OS-FLV-EXT-DATA:ephemeral": 0, swap: "", rxtx_factor: 1, "os-flavor-access:is_public": true, links: [] })),
      ...(r.next !== null ? { flavors_links: [{ rel: "next", href: r.next }] } : {})
    })
  }

  private listServers(u: URL, res: ServerResponse) {
    const name = u.searchParams.get("name")
    let re: RegExp | null = null
    if (name !== null) {
      try {
        re = new RegExp(name)
      } catch {
        return novaError(res, 400, "badRequest", `Invalid name filter ${name}`)
      }
    }
    // Nova's default order: newest first (created_at desc, then id).
    const all = this.live()
      .filter((s) => re === null || re.test(s.name))
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.id < b.id ? 1 : -1))
    const r = this.page(all, u)
    if (r === "bad-marker") return novaError(res, 400, "badRequest", `marker [${u.searchParams.get("marker")}] not found`)
    const out = r.page.map((s) => this.serverJson(s))
    json(res, 200, { servers: out, ...(r.next !== null ? { servers_links: [{ rel: "next", href: r.next }] } : {}) })
  }

  private createServer(body: unknown, res: ServerResponse, mv: [number, number]) {
    const s = (body as any)?.server
    if (s === undefined || typeof s.name !== "string" || s.name === "") return novaError(res, 400, "badRequest", "Invalid input for field/attribute server.")
    // From 2.37 on, networks is required and may be "auto" or "none"; before, only a list.
    if (mvAtLeast(mv, 2, 37) && s.networks === undefined)
      return novaError(res, 400, "badRequest", "Invalid input for field/attribute server. Value: {...}. 'networks' is a required property")
    if (typeof s.networks === "string" && (!mvAtLeast(mv, 2, 37) || (s.networks !== "auto" && s.networks !== "none")))
      return novaError(res, 400, "badRequest", `Invalid input for field/attribute networks. Value: ${s.networks}. '${s.networks}' is not of type 'array'`)
    if (s.networks !== undefined && typeof s.networks !== "string" && !Array.isArray(s.networks))
      return novaError(res, 400, "badRequest", `Invalid input for field/attribute networks.`)
    // Nova Zed's words for an unknown image at boot (not its ImageNotFound message "Image X could not be found.")
    if (!this.images.includes(s.imageRef)) return novaError(res, 400, "badRequest", "Can not find requested image")
    if (!this.flavors.some((f) => f.id === s.flavorRef)) return novaError(res, 400, "badRequest", `Flavor ${s.flavorRef} could not be found.`)
    if (Array.isArray(s.networks) && !s.networks.every((n: any) => this.networks.some((x) => x.id === n.uuid)))
      return novaError(res, 400, "badRequest", "Network could not be found.")
    const used = this.live().length
    if (used + 1 > this.quota)
      return novaError(res, 403, "forbidden", `Quota exceeded for instances: Requested 1, but already used ${used} of ${this.quota} instances`)
    let userData: string | null = null
    if (s.user_data !== undefined) userData = Buffer.from(String(s.user_data), "base64").toString("utf8")
    const srv = this.newServer(
      s.name,
      s.flavorRef,
      s.imageRef,
      s.key_name ?? null,
      (s.security_groups ?? [{ name: "default" }]).map((g: any) => g.name),
      s.availability_zone ?? "nova",
      userData,
      s.networks === "none" ? null : Array.isArray(s.networks) && s.networks.length > 0 ? (this.networks.find((x) => x.id === s.networks[0].uuid)?.name ?? null) : (this.networks[0]?.name ?? "private")
    )
    if (this.failBoots > 0) {
      this.failBoots--
      srv.doomed = true
    }
    json(res, 202, {
      server: {
        id: srv.id,
        links: [{ rel: "self", href: `${this.url}/compute/v2.1/servers/${srv.id}` }],
        "OS-DCF:diskConfig": "MANUAL",
        security_groups: srv.securityGroups.map((name) => ({ name })),
        adminPass: "fake-admin-pass"
      }
    })
  }
}
