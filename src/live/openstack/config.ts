/**
 * `cloud.<res>.config` of an OpenStack resource (SPEC §2), decoded at
 * start-up. Keystone v3 with a password (user and project domains default to
 * `Default`) or with an application credential. Classic files had a v2.0
 * `auth_url`; the same Keystone answers v3 under `/v3`, which we use.
 */
import { Schema } from "effect"
import { PrefixSchema, Seconds } from "../cloud-setup.ts"

const str = Schema.String.annotations({ message: () => "expected a string" })
const optStr = Schema.optionalWith(Schema.NullOr(str), { default: () => null })

const Url = Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s/]+/)).annotations({
  message: () => "expected an http:// or https:// URL"
})

export const OpenStackConfig = Schema.Struct({
  auth_url: Url,
  username: optStr,
  password: optStr,
  project: optStr,
  project_id: optStr,
  user_domain_name: Schema.optionalWith(str, { default: () => "Default" }),
  project_domain_name: Schema.optionalWith(str, { default: () => "Default" }),
  application_credential_id: optStr,
  application_credential_name: optStr,
  application_credential_secret: optStr,
  image_uuid: str,
  flavor: str,
  /** Classic: the flavour id next to its name; only used when the name is not found. */
  flavor_id: Schema.optionalWith(Schema.NullOr(Schema.Union(str, Schema.Number)), { default: () => null }),
  key_name: optStr,
  security_groups: Schema.optionalWith(
    Schema.NullOr(Schema.Array(str)).annotations({ message: () => "expected a list of security group names" }),
    { default: () => [] }
  ),
  availability_zone: optStr,
  instance_name_prefix: PrefixSchema,
  userdata_file: optStr,
  /**
   * Network name or id the VM is attached to; "auto" (what null means too):
   * Nova picks the project's one network; "none": no network at all (clouds
   * without Neutron, e.g. a test cloud with Nova's fake driver): the VM has no
   * address and is Active as soon as Nova says ACTIVE, its host name is its
   * instance name.
   */
  network: optStr,
  region: optStr,
  interface: Schema.optionalWith(
    Schema.Literal("public", "internal", "admin").annotations({ message: () => "expected public, internal or admin" }),
    { default: () => "public" as const }
  ),
  /** Seconds one API call may take. */
  api_timeout: Schema.optionalWith(Seconds, { default: () => 30 }),
  /** Seconds a reverse DNS lookup may take before the instance name is used as host name. */
  dns_timeout: Schema.optionalWith(Seconds, { default: () => 2 }),
  /** false: no reverse DNS lookup, the instance name is the node's host name (clouds without PTR records, tests). */
  reverse_dns: Schema.optionalWith(Schema.Boolean.annotations({ message: () => "expected true or false" }), { default: () => true })
}).pipe(
  Schema.filter((c) => {
    const appCred = c.application_credential_secret !== null && (c.application_credential_id !== null || c.application_credential_name !== null)
    if (appCred) {
      if (c.application_credential_id === null && c.username === null) {
        return "an application_credential_name also needs the username (and user_domain_name) it belongs to"
      }
      return true
    }
    const missing = [
      c.username === null ? "username" : null,
      c.password === null ? "password" : null,
      c.project === null && c.project_id === null ? "project (or project_id)" : null
    ].filter((x) => x !== null)
    if (missing.length === 0) return true
    return `missing ${missing.join(", ")}: give username, password and project, or application_credential_id and application_credential_secret`
  })
)
export type OpenStackConfig = typeof OpenStackConfig.Type

/** The Keystone v3 token URL for an `auth_url` (with or without /v3, or a classic /v2.0). */
export const tokenUrl = (authUrl: string): { readonly url: string; readonly note: string | null } => {
  let base = authUrl.trim().replace(/\/+$/, "")
  let note: string | null = null
  if (/\/v2\.0$/.test(base)) {
    base = base.replace(/\/v2\.0$/, "/v3")
    note = `auth_url ${authUrl} is Keystone v2.0; using the v3 API at ${base}`
  } else if (!/\/v3$/.test(base)) {
    base = `${base}/v3`
  }
  return { url: `${base}/auth/tokens`, note }
}

/** The Keystone v3 request body for these credentials (holds the secret: never log it). */
export const authBody = (c: OpenStackConfig): unknown => {
  if (c.application_credential_secret !== null && (c.application_credential_id !== null || c.application_credential_name !== null)) {
    const cred =
      c.application_credential_id !== null
        ? { id: c.application_credential_id, secret: c.application_credential_secret }
        : {
            name: c.application_credential_name,
            secret: c.application_credential_secret,
            user: { name: c.username, domain: { name: c.user_domain_name } }
          }
    // An application credential is already scoped to its project.
    return { auth: { identity: { methods: ["application_credential"], application_credential: cred } } }
  }
  const project = c.project_id !== null ? { id: c.project_id } : { name: c.project, domain: { name: c.project_domain_name } }
  return {
    auth: {
      identity: {
        methods: ["password"],
        password: { user: { name: c.username, domain: { name: c.user_domain_name }, password: c.password } }
      },
      scope: { project }
    }
  }
}

/** Who we authenticate as, for messages (no secret). */
export const principal = (c: OpenStackConfig): string =>
  c.application_credential_secret !== null && (c.application_credential_id !== null || c.application_credential_name !== null)
    ? `application credential ${c.application_credential_id ?? c.application_credential_name}`
    : `user ${c.username} (domain ${c.user_domain_name}) in project ${c.project_id ?? c.project}`
