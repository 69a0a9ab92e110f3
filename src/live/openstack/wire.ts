/**
 * The parts of Keystone v3 and Nova (Compute API v2.1 at microversion
 * COMPUTE_MICROVERSION) responses we read, as Schemas: every response is
 * decoded, and a response that does not fit is an error naming the path of
 * the bad value.
 *
 * Shapes follow the OpenStack API references: Identity v3 "Password
 * authentication with scoped authorization" (201, token in the
 * X-Subject-Token header, body `token.expires_at`, `token.catalog[].endpoints[]`
 * with `interface`/`region_id`/`url`); Compute "List Servers Detailed"
 * (`servers`, `servers_links` with rel "next" carrying `marker`), "Show Server
 * Details" (`status`, `OS-EXT-STS:task_state`/`vm_state`, `addresses.<net>[]`
 * with `addr`/`version`, `hostId` empty until scheduled, `fault`), "Create
 * Server" (202, `server.id`), "List Flavors With Details" (`flavors[]` with
 * `id`/`name`/`vcpus`, `flavors_links`); Networking v2 "List networks".
 */
import { Schema } from "effect"

/**
 * The Compute API microversion of every Nova request (headers
 * `OpenStack-API-Version: compute 2.37` and `X-OpenStack-Nova-API-Version`).
 * 2.37 is the first that accepts `"networks": "none"` / `"auto"` at boot
 * (Newton, 2016); from it on `networks` is required. Without the header Nova
 * answers as 2.1, where a boot without networks asks Neutron for all of the
 * project's networks (so a cloud without Neutron puts it in ERROR).
 * The server view is the same as 2.1's up to 2.46 (2.47 embeds the flavour).
 */
export const COMPUTE_MICROVERSION = "2.37"

const optNullStr = Schema.optional(Schema.NullOr(Schema.String))

export const Link = Schema.Struct({ href: Schema.String, rel: Schema.String })
const Links = Schema.optional(Schema.NullOr(Schema.Array(Link)))

export const Endpoint = Schema.Struct({
  interface: Schema.String,
  region: optNullStr,
  region_id: optNullStr,
  url: Schema.String
})
export const CatalogEntry = Schema.Struct({
  type: Schema.String,
  name: optNullStr,
  endpoints: Schema.Array(Endpoint)
})
export type CatalogEntry = typeof CatalogEntry.Type

export const TokenResponse = Schema.Struct({
  token: Schema.Struct({
    expires_at: Schema.String,
    issued_at: optNullStr,
    catalog: Schema.optionalWith(Schema.Array(CatalogEntry), { default: () => [] }),
    user: Schema.optional(Schema.Struct({ name: optNullStr, id: optNullStr })),
    project: Schema.optional(Schema.Struct({ name: optNullStr, id: optNullStr }))
  })
})

export const Flavor = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  vcpus: Schema.Number
})
export type Flavor = typeof Flavor.Type
export const FlavorList = Schema.Struct({ flavors: Schema.Array(Flavor), flavors_links: Links })

export const Address = Schema.Struct({
  addr: Schema.String,
  version: Schema.Number,
  "OS-EXT-IPS:type": optNullStr
})

export const Server = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  status: Schema.String,
  "OS-EXT-STS:task_state": optNullStr,
  "OS-EXT-STS:vm_state": optNullStr,
  addresses: Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Array(Address) }))),
  hostId: optNullStr,
  created: optNullStr,
  flavor: Schema.optional(
    Schema.NullOr(Schema.Struct({ id: optNullStr, vcpus: Schema.optional(Schema.Number), original_name: optNullStr }))
  ),
  // "" for servers booted from a volume
  image: Schema.optional(Schema.NullOr(Schema.Union(Schema.Struct({ id: Schema.String }), Schema.String))),
  key_name: optNullStr,
  "OS-EXT-AZ:availability_zone": optNullStr,
  security_groups: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({ name: Schema.String })))),
  fault: Schema.optional(Schema.NullOr(Schema.Struct({ message: optNullStr, code: Schema.optional(Schema.Number) })))
})
export type Server = typeof Server.Type

export const ServerList = Schema.Struct({ servers: Schema.Array(Server), servers_links: Links })
export const ServerShow = Schema.Struct({ server: Server })
export const ServerCreated = Schema.Struct({ server: Schema.Struct({ id: Schema.String }) })

export const NetworkList = Schema.Struct({
  networks: Schema.Array(Schema.Struct({ id: Schema.String, name: optNullStr }))
})
