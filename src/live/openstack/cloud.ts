/**
 * The Cloud service of one OpenStack resource, over Nova (and Neutron to
 * find a network by name). Instance states follow SPEC §1:
 *
 *   BUILD before a host is chosen (empty hostId) → Pending; BUILD → Starting;
 *   ACTIVE with an IPv4 address → Active (without one: still Starting, unless
 *   the resource boots with `network: none`, whose VMs never get one);
 *   ERROR → Error (carrying the server's `fault`, classified: serverFault);
 *   task_state "deleting" → Deleting; DELETED, SOFT_DELETED
 *   or 404 → Inexistent; stopped/suspended/shelved → Error (the VM is not
 *   usable, the engine replaces it); reboot/rebuild/resize/migrate → Unknown.
 */
import { Layer, Context } from "effect"
import { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Clock, Duration, Effect, Either, Ref } from "effect"
import { CloudError, errorClass, type BootOptions, type Cloud, type CloudErrorKind } from "../../engine/services.ts"
import type { ResourceConfig } from "../../model/config.ts"
import { emptyInstance, InstanceState, type Instance, type InstanceFault } from "../../model/types.ts"
import {
  CloudSetupError,
  decodeCloudConfig,
  hostnameOf,
  layerResourceCloud,
  newInstanceName,
  systemReverseDns,
  type CloudFactory,
  type CloudLayerSetup,
  type LiveCloudOptions,
  type ResourceCloud
} from "../cloud-setup.ts"
import { base64, makeUserData } from "../userdata.ts"
import { OpenStackConfig, principal, tokenUrl } from "./config.ts"
import { classifyStatus, makeSession, type Session } from "./session.ts"
import { FlavorList, NetworkList, ServerCreated, ServerList, ServerShow, type Flavor, type Server } from "./wire.ts"

const PAGE = 100
const MAX_PAGES = 1000

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

/** SPEC §1 state of a Nova server (see the module comment). */
export const serverState = (s: Server, ip: string | null, addressless = false): Instance["state"] => {
  const task = (s["OS-EXT-STS:task_state"] ?? "").toLowerCase()
  const status = s.status.toUpperCase()
  if (task === "deleting" || task === "soft-deleting") return InstanceState.Deleting
  switch (status) {
    case "BUILD":
      return s.hostId ? InstanceState.Starting : InstanceState.Pending
    case "ACTIVE":
      return ip !== null || addressless ? InstanceState.Active : InstanceState.Starting
    case "ERROR":
      return InstanceState.Error
    case "DELETED":
    case "SOFT_DELETED":
      return InstanceState.Inexistent
    case "SHUTOFF":
    case "STOPPED":
    case "SUSPENDED":
    case "PAUSED":
    case "SHELVED":
    case "SHELVED_OFFLOADED":
    case "RESCUE":
      return InstanceState.Error
    default:
      return InstanceState.Unknown
  }
}

/**
 * Why Nova put a server in ERROR (its `fault`), classified as an API answer
 * with that code and message would be: "No valid host was found" (the
 * scheduler could place it nowhere) is `capacity` (session.ts classifyStatus).
 */
export const serverFault = (code: number, message: string): InstanceFault => ({ class: errorClass(classifyStatus(code, message), "boot"), message })

/** The first IPv4 address, from the configured network when there is one. */
export const firstIpv4 = (s: Server, network: string | null): string | null => {
  const nets = Object.entries(s.addresses ?? {})
  const ordered = network === null ? nets : [...nets.filter(([n]) => n === network), ...nets.filter(([n]) => n !== network)]
  for (const [, addrs] of ordered) for (const a of addrs) if (a.version === 4) return a.addr
  return null
}

const seconds = (iso: string | null | undefined, fallback: number): number => {
  if (iso == null) return fallback
  const t = Date.parse(iso)
  return Number.isNaN(t) ? fallback : t / 1000
}

export interface OpenStackCloud extends ResourceCloud {
  readonly session: Session
}

export const makeOpenStackCloud = (
  resource: string,
  rc: ResourceConfig,
  options: LiveCloudOptions & { readonly http: HttpClient.HttpClient }
): Effect.Effect<OpenStackCloud, CloudSetupError> =>
  Effect.gen(function* () {
    const decoded = yield* decodeCloudConfig(OpenStackConfig, resource, rc.config)
    const config = decoded.config
    const ud = yield* Effect.mapError(
      makeUserData(config.userdata_file),
      (e) => new CloudSetupError({ resource, problems: [`cloud.${resource}.config.userdata_file: ${e.message}`] })
    )
    const note = tokenUrl(config.auth_url).note
    const warnings = [...decoded.warnings, ...(note !== null ? [`cloud.${resource}.config.auth_url: ${note}`] : [])]
    const session = yield* makeSession({ resource, config, http: options.http, retryDelay: options.retryDelay ?? Duration.seconds(1), ...(options.callRate !== undefined ? { callRate: options.callRate } : {}) })
    const reverse = options.reverseDns ?? systemReverseDns
    const prefix = config.instance_name_prefix
    const flavours = yield* Ref.make<ReadonlyArray<Flavor> | null>(null)
    const networkId = yield* Ref.make<string | null>(null)

    const fail = (op: string, kind: CloudErrorKind, message: string) => Effect.fail(new CloudError({ resource, op, kind, message }))
    const mine = (r: string, op: string) =>
      r === resource ? Effect.void : fail(op, "notfound", `the OpenStack layer of ${resource} was asked about resource ${r}`)

    const allFlavours = Effect.gen(function* () {
      const cached = yield* Ref.get(flavours)
      if (cached !== null) return cached
      const out: Array<Flavor> = []
      let query: Record<string, string> = { limit: String(PAGE) }
      for (let page = 0; page < MAX_PAGES; page++) {
        const r = yield* session.call({ op: "flavours", method: "GET", service: "compute", path: "/flavors/detail", query, schema: FlavorList })
        out.push(...r.body!.flavors)
        const marker = nextMarker(r.body!.flavors_links)
        if (marker === null || r.body!.flavors.length === 0 || marker === query.marker) break
        query = { limit: String(PAGE), marker }
      }
      yield* Ref.set(flavours, out)
      return out
    })

    /** The configured flavour (by name; the classic flavor_id, or the name as an id, as fallbacks). */
    const flavour = Effect.gen(function* () {
      const all = yield* allFlavours
      const f =
        all.find((x) => x.name === config.flavor) ??
        (config.flavor_id !== null ? all.find((x) => x.id === String(config.flavor_id)) : undefined) ??
        all.find((x) => x.id === config.flavor)
      if (f !== undefined) return f
      yield* Ref.set(flavours, null) // look again next time: the flavour may be created later
      const names = all.map((x) => x.name).slice(0, 20)
      return yield* fail("flavour", "invalid", `flavour ${JSON.stringify(config.flavor)} not found${names.length > 0 ? ` (available: ${names.join(", ")})` : ""}`)
    })

    /** `network: none` / `auto` are Nova's own words (microversion 2.37), not names. */
    const special = config.network === null || config.network === "none" || config.network === "auto"
    const addressless = config.network === "none"
    const network = Effect.gen(function* () {
      if (special) return null
      if (UUID.test(config.network)) return config.network
      const cached = yield* Ref.get(networkId)
      if (cached !== null) return cached
      const r = yield* session.call({ op: "network", method: "GET", service: "network", path: "/v2.0/networks", query: { name: config.network }, schema: NetworkList })
      const n = r.body!.networks
      if (n.length === 0) return yield* fail("network", "invalid", `network ${JSON.stringify(config.network)} not found`)
      if (n.length > 1) return yield* fail("network", "invalid", `${n.length} networks are called ${JSON.stringify(config.network)}: give its id instead`)
      yield* Ref.set(networkId, n[0].id)
      return n[0].id
    })

    const toInstance = (s: Server, now: number) =>
      Effect.gen(function* () {
        const ip = firstIpv4(s, special ? null : config.network)
        const state = serverState(s, ip, addressless)
        const active = state === InstanceState.Active
        const dns = !active ? null : ip !== null && config.reverse_dns ? yield* hostnameOf(ip, s.name, reverse, config.dns_timeout) : s.name
        let vcpus = s.flavor?.vcpus ?? 0
        if (vcpus === 0) {
          const all = yield* Effect.orElseSucceed(allFlavours, () => [] as ReadonlyArray<Flavor>)
          vcpus = all.find((f) => f.id === s.flavor?.id)?.vcpus ?? 0
        }
        if (vcpus === 0) vcpus = yield* Effect.orElseSucceed(Effect.map(flavour, (f) => f.vcpus), () => 0)
        const inst: Instance = {
          uuid: s.id,
          instance_name: s.name,
          cloud_resource: resource,
          state,
          dns_name: dns,
          ip: active ? ip : null,
          vcpu_number: vcpus,
          creation_time: seconds(s.created, now),
          last_update_time: now,
          last_task_result: 0,
          tasked: false,
          availability_zone: s["OS-EXT-AZ:availability_zone"] ?? config.availability_zone,
          subnet_id: null,
          security_groups: s.security_groups ? [...new Set(s.security_groups.map((g) => g.name))] : config.security_groups ? [...config.security_groups] : null,
          image_uuid: typeof s.image === "object" && s.image !== null ? s.image.id : config.image_uuid,
          flavor: s.flavor?.original_name ?? config.flavor,
          key_name: s.key_name ?? config.key_name,
          spot_id: null,
          spot_state: null,
          spot_price: 0,
          ...(state === InstanceState.Error && s.fault?.message ? { fault: serverFault(s.fault.code ?? 500, s.fault.message) } : {})
        }
        return inst
      })

    const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)

    /** Servers whose name starts with `<prefix>-` (Nova's name filter is a regular expression). */
    const serversNamed = (pattern: string, accept: (name: string) => boolean) =>
      Effect.gen(function* () {
        const out: Array<Server> = []
        const seen = new Set<string>()
        let query: Record<string, string> = { name: pattern, limit: String(PAGE) }
        for (let page = 0; page < MAX_PAGES; page++) {
          const r = yield* session.call({ op: "list", method: "GET", service: "compute", path: "/servers/detail", query, schema: ServerList })
          for (const s of r.body!.servers) {
            if (seen.has(s.id) || !accept(s.name)) continue
            seen.add(s.id)
            out.push(s)
          }
          const marker = nextMarker(r.body!.servers_links)
          if (marker === null || r.body!.servers.length === 0 || marker === query.marker) break
          query = { name: pattern, limit: String(PAGE), marker }
        }
        return out
      })

    const list = (r: string) =>
      Effect.gen(function* () {
        yield* mine(r, "list")
        const servers = yield* serversNamed(`^${escapeRegex(prefix)}-`, (n) => n.startsWith(`${prefix}-`))
        const now = yield* nowSeconds
        // reverse DNS for many VMs at once: not one timeout after another
        const all = yield* Effect.forEach(servers, (s) => toInstance(s, now), { concurrency: 16 })
        return all.filter((i) => i.state !== InstanceState.Inexistent)
      })

    const boot = (r: string, options?: BootOptions) =>
      Effect.gen(function* () {
        yield* mine(r, "boot")
        const f = yield* flavour
        const net = yield* network
        const name = yield* newInstanceName(prefix)
        const userData = yield* Effect.mapError(ud.render(name, options?.userData), (e) => new CloudError({ resource, op: "boot", kind: "invalid", message: e.message }))
        const server: Record<string, unknown> = {
          name,
          imageRef: config.image_uuid,
          flavorRef: f.id,
          min_count: 1,
          max_count: 1
        }
        if (config.key_name !== null) server.key_name = config.key_name
        if (config.security_groups !== null && config.security_groups.length > 0) server.security_groups = config.security_groups.map((g) => ({ name: g }))
        if (config.availability_zone !== null) server.availability_zone = config.availability_zone
        // required from microversion 2.37 on: a network id, or Nova's "auto" / "none"
        server.networks = net !== null ? [{ uuid: net }] : addressless ? "none" : "auto"
        if (userData !== "") server.user_data = base64(userData)
        const created = yield* Effect.either(
          session.call({ op: "boot", method: "POST", service: "compute", path: "/servers", body: { server }, schema: ServerCreated })
        )
        let id: string
        if (Either.isRight(created)) id = created.right.body!.server.id
        else {
          const e = created.left
          // The request may have reached Nova even though its answer did not reach us:
          // find the server by its (random, unique) name rather than leak it.
          if (e.kind !== "api" && e.kind !== "timeout") return yield* Effect.fail(e)
          const found = yield* Effect.orElseSucceed(serversNamed(`^${escapeRegex(name)}$`, (n) => n === name), () => [] as Array<Server>)
          if (found.length === 0) return yield* Effect.fail(e)
          id = found[0].id
        }
        const now = yield* nowSeconds
        const inst: Instance = {
          ...emptyInstance(resource, now),
          uuid: id,
          instance_name: name,
          vcpu_number: f.vcpus,
          last_task_result: 0,
          availability_zone: config.availability_zone,
          security_groups: config.security_groups ? [...config.security_groups] : null,
          image_uuid: config.image_uuid,
          flavor: f.name,
          key_name: config.key_name
        }
        return inst
      })

    const refresh = (inst: Instance) =>
      Effect.gen(function* () {
        yield* mine(inst.cloud_resource, "refresh")
        if (inst.uuid === null) return { ...inst, state: InstanceState.Inexistent }
        const r = yield* session.call({
          op: "refresh",
          method: "GET",
          service: "compute",
          path: `/servers/${encodeURIComponent(inst.uuid)}`,
          schema: ServerShow,
          accept: [404]
        })
        const now = yield* nowSeconds
        if (r.status === 404) return { ...inst, state: InstanceState.Inexistent, last_update_time: now }
        const fresh = yield* toInstance(r.body!.server, now)
        return { ...fresh, creation_time: inst.creation_time || fresh.creation_time, tasked: inst.tasked }
      })

    const destroy = (inst: Instance) =>
      Effect.gen(function* () {
        yield* mine(inst.cloud_resource, "destroy")
        if (inst.uuid === null) return
        // 404: already gone, which is what we wanted.
        yield* session.call({ op: "destroy", method: "DELETE", service: "compute", path: `/servers/${encodeURIComponent(inst.uuid)}`, accept: [404] })
      })

    const coresPerNode = (r: string) => Effect.zipRight(mine(r, "flavour"), Effect.map(flavour, (f) => f.vcpus))

    const probe = Effect.gen(function* () {
      const token = yield* session.token
      const compute = yield* session.endpoint("compute")
      const f = yield* flavour
      const net = yield* network
      const mineNow = yield* list(resource)
      return (
        `authenticated as ${token.user !== null ? `${token.user}${token.project !== null ? ` in project ${token.project}` : ""}` : principal(config)}; ` +
        `compute endpoint ${compute}; flavour ${f.name} has ${f.vcpus} vCPUs` +
        (net !== null ? `; network ${config.network} = ${net}` : addressless ? "; no network (network: none)" : "") +
        `; ${mineNow.length} instance(s) named ${prefix}-*`
      )
    })

    return { resource, type: "openstack", warnings, session, list, boot, refresh, destroy, coresPerNode, probe }
  })

/** The `marker` of a rel="next" link, or null on the last page. */
const nextMarker = (links: ReadonlyArray<{ href: string; rel: string }> | null | undefined): string | null => {
  const next = links?.find((l) => l.rel === "next")
  if (next === undefined) return null
  try {
    return new URL(next.href, "http://x").searchParams.get("marker")
  } catch {
    return null
  }
}

/** The factory for the daemon's registry: an HTTP client (NodeHttpClient) owned by the caller's scope. */
export const openstackFactory: CloudFactory = (resource, rc, options = {}) =>
  Effect.gen(function* () {
    const http =
      options.http ?? Context.get(yield* Layer.build(NodeHttpClient.layer), HttpClient.HttpClient)
    return yield* makeOpenStackCloud(resource, rc, { ...options, http })
  })

/** The Cloud layer of one `cloud.<res>: {type: openstack}` resource (the daemon's registry, src/daemon/registry.ts). */
export const layerOpenStackCloud = (resource: string, rc: ResourceConfig, setup: CloudLayerSetup = {}): Layer.Layer<Cloud, CloudSetupError> =>
  layerResourceCloud(openstackFactory(resource, rc, setup.options), setup)
