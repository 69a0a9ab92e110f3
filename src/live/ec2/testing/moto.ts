/**
 * moto 5.2.2 (an AWS API emulator written by others, ../shared/tools/moto),
 * started by ci/setup-40-moto.sh on 127.0.0.1:5055 (MOTO_ENDPOINT overrides):
 * is it there (skip visibly, or fail when CI=true), and direct SDK calls for
 * what tests do behind the scaler's back (foreign instances, terminations).
 *
 * Tests share one moto: each uses its own region and instance name prefix, so
 * they never see each other's instances and never need a reset.
 */
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { EC2Client, RunInstancesCommand, TerminateInstancesCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2"
import { describe, it } from "vitest"

export const MOTO_ENDPOINT = process.env.MOTO_ENDPOINT ?? "http://127.0.0.1:5055"
/** An AMI moto knows (Amazon Linux 2). */
export const MOTO_AMI = "ami-0c4ca191c5ba10793"
export const MOTO_CREDENTIALS = { accessKeyId: "AKIDMOTOTEST", secretAccessKey: "moto-secret-key" }

/** Why moto cannot be used, or null when it answers EC2. (Synchronous: suites are registered at load time.) */
export const motoMissing = (): string | null => {
  const script = `fetch(${JSON.stringify(MOTO_ENDPOINT + "/")}, {method: "POST", headers: {"content-type": "application/x-www-form-urlencoded", authorization: "AWS4-HMAC-SHA256 Credential=t/20260101/ap-southeast-2/ec2/aws4_request, SignedHeaders=host, Signature=0"}, body: "Action=DescribeRegions&Version=2016-11-15", signal: AbortSignal.timeout(5000)}).then(async (r) => { const t = await r.text(); process.exit(r.status === 200 && t.includes("regionInfo") ? 0 : 2) }, () => process.exit(3))`
  const r = spawnSync(process.execPath, ["-e", script], { timeout: 10_000 })
  if (r.status === 0) return null
  return `moto does not answer EC2 at ${MOTO_ENDPOINT} (start it: bash ci/setup-40-moto.sh)`
}

/** Registers a suite that needs moto: says that it runs against moto, or is skipped with a visible warning without it (a failing test when CI=true). */
export const describeWithMoto = (name: string, body: () => void): void => {
  const why = motoMissing()
  if (why !== null) {
    if (process.env.CI === "true") {
      describe(name, () => {
        it("needs moto (ci/setup-40-moto.sh; CI=true: not skipped)", () => {
          throw new Error(why)
        })
      })
      return
    }
    console.warn(`[${name}] skipped: ${why}`)
  } else console.log(`[${name}] runs against moto at ${MOTO_ENDPOINT}`)
  describe.skipIf(why !== null)(name, body)
}

/** A fresh instance name prefix (moto's state is shared by every test run). */
export const motoPrefix = (base: string): string => `${base}${randomBytes(3).toString("hex")}`

export const motoClient = (region: string): EC2Client =>
  new EC2Client({ region, endpoint: MOTO_ENDPOINT, credentials: MOTO_CREDENTIALS, maxAttempts: 1 })

/** Starts an instance named `name` in moto, as someone else would (console, another tool). */
export const motoRunNamed = async (region: string, name: string): Promise<string> => {
  const c = motoClient(region)
  try {
    const out = await c.send(
      new RunInstancesCommand({
        ImageId: MOTO_AMI,
        InstanceType: "t3.micro",
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "Name", Value: name }] }]
      })
    )
    return out.Instances![0].InstanceId!
  } finally {
    c.destroy()
  }
}

/** Terminates instances behind the scaler's back. */
export const motoTerminate = async (region: string, ids: ReadonlyArray<string>): Promise<void> => {
  const c = motoClient(region)
  try {
    await c.send(new TerminateInstancesCommand({ InstanceIds: [...ids] }))
  } finally {
    c.destroy()
  }
}

/** Ids of the running/pending instances whose Name starts with `prefix-`. */
export const motoInstancesNamed = async (region: string, prefix: string): Promise<Array<string>> => {
  const c = motoClient(region)
  try {
    const out = await c.send(
      new DescribeInstancesCommand({ Filters: [{ Name: "tag:Name", Values: [`${prefix}-*`] }, { Name: "instance-state-name", Values: ["pending", "running"] }] })
    )
    return (out.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId!))
  } finally {
    c.destroy()
  }
}

/** An `aws` cloud resource for `dyncluster run --config` end-to-end tests (moto or our fake EC2): fast failure, no DNS. */
export const e2eAwsResource = (
  t: { readonly endpoint: string; readonly region: string; readonly image: string; readonly accessKeyId: string; readonly secretAccessKey: string },
  prefix: string,
  priority: number,
  quantity: { readonly min: number; readonly max: number },
  extra: Record<string, unknown> = {}
) => ({
  type: "aws",
  priority,
  quantity,
  config: {
    access_key_id: t.accessKeyId,
    secret_access_key: t.secretAccessKey,
    region_name: t.region,
    image_id: t.image,
    instance_type: "t3.micro",
    instance_name_prefix: prefix,
    endpoint_url: t.endpoint,
    max_attempts: 1,
    api_timeout: 5,
    reverse_dns: false,
    ...extra
  }
})
