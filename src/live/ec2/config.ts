/**
 * `cloud.<res>.config` of an AWS (EC2) resource (SPEC §2), decoded at
 * start-up. Credentials are optional: without them the standard AWS chain
 * (environment, shared files, instance role) is used. `endpoint_url` points
 * the layer at an EC2-compatible cloud (or a test server).
 */
import { Schema } from "effect"
import { PrefixSchema, Seconds } from "../cloud-setup.ts"

const str = Schema.String.annotations({ message: () => "expected a string" })
const optStr = Schema.optionalWith(Schema.NullOr(str), { default: () => null })
const bool = Schema.Boolean.annotations({ message: () => "expected true or false" })
const port = Schema.Number.pipe(Schema.int(), Schema.between(1, 65535)).annotations({ message: () => "expected a TCP port number (1-65535)" })

export const DiskSpec = Schema.Struct({
  device: str,
  /** GiB of an EBS volume; without a size the entry maps an instance-store volume (its name, e.g. ephemeral0). */
  size: Schema.optional(Schema.NullOr(Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({ message: () => "expected a positive whole number of GiB" }))),
  delete_on_termination: Schema.optionalWith(bool, { default: () => true }),
  volume_type: Schema.optional(Schema.NullOr(str))
})

const Price = Schema.Union(
  Schema.Number.pipe(Schema.positive()),
  Schema.String.pipe(Schema.pattern(/^\d+(\.\d+)?$/))
).annotations({ message: () => "expected a positive price in US dollars per hour, e.g. 0.05" })

export const Ec2Config = Schema.Struct({
  access_key_id: optStr,
  secret_access_key: optStr,
  session_token: optStr,
  region_name: str,
  image_id: str,
  instance_type: str,
  key_name: optStr,
  security_groups: Schema.optionalWith(
    Schema.NullOr(Schema.Array(str)).annotations({ message: () => "expected a list of security group names or ids" }),
    { default: () => [] }
  ),
  availability_zone: optStr,
  subnet_id: optStr,
  use_public_ip_address: Schema.optionalWith(bool, { default: () => false }),
  disk_map: Schema.optionalWith(Schema.NullOr(Schema.Record({ key: Schema.String, value: DiskSpec })), { default: () => null }),
  instance_name_prefix: PrefixSchema,
  userdata_file: optStr,
  spot_bid: Schema.optionalWith(Schema.NullOr(Price), { default: () => null }),
  /** Seconds a spot request stays open before it expires unfulfilled. */
  spot_timeout: Schema.optionalWith(Schema.NullOr(Seconds), { default: () => null }),
  proxy: optStr,
  proxy_port: Schema.optionalWith(Schema.NullOr(port), { default: () => null }),
  endpoint_url: Schema.optionalWith(
    Schema.NullOr(Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s/]+/)).annotations({ message: () => "expected an http:// or https:// URL" })),
    { default: () => null }
  ),
  /** Seconds one API call may take (each attempt). */
  api_timeout: Schema.optionalWith(Seconds, { default: () => 30 }),
  /** Attempts per call, retries included (throttling and 5xx are retried by the SDK). */
  max_attempts: Schema.optionalWith(
    Schema.Number.pipe(Schema.int(), Schema.between(1, 10)).annotations({ message: () => "expected a whole number from 1 to 10" }),
    { default: () => 3 }
  ),
  dns_timeout: Schema.optionalWith(Seconds, { default: () => 2 }),
  /** false: no reverse DNS lookup, the instance name (Name tag) is the node's host name (as for OpenStack). */
  reverse_dns: Schema.optionalWith(bool, { default: () => true })
}).pipe(
  Schema.filter((c) => {
    if ((c.access_key_id === null) !== (c.secret_access_key === null)) {
      return c.access_key_id === null
        ? "secret_access_key is set but access_key_id is missing (give both, or neither to use the standard AWS credential chain)"
        : "access_key_id is set but secret_access_key is missing (give both, or neither to use the standard AWS credential chain)"
    }
    if (c.proxy !== null && c.proxy_port === null) return "proxy is set but proxy_port is missing"
    if (c.proxy === null && c.proxy_port !== null) return "proxy_port is set but proxy is missing"
    if (c.spot_timeout !== null && c.spot_bid === null) return "spot_timeout is set but spot_bid is missing (spot requests need a bid)"
    return true
  })
)
export type Ec2Config = typeof Ec2Config.Type
