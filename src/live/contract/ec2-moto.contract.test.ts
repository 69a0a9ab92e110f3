/**
 * The Cloud contract against the EC2 layer talking to moto 5.2.2 (an AWS API
 * emulator written by others: ci/setup-40-moto.sh), on-demand and spot, as
 * well as against our own fake EC2 (cloud-contract.test.ts). Skips visibly
 * without moto; fails when CI=true.
 */
import { Effect, Either, Exit, Scope } from "effect"
import type { ResourceConfig } from "../../model/config.ts"
import { awsFactory } from "../ec2/cloud.ts"
import { describeWithMoto, MOTO_AMI, MOTO_CREDENTIALS, MOTO_ENDPOINT, motoPrefix, motoRunNamed } from "../ec2/testing/moto.ts"
import { cloudContract, type CloudHarness } from "./cloud-contract.ts"

process.env.AWS_EC2_METADATA_DISABLED = "true"

const motoHarness =
  (region: string, extra: Record<string, unknown>) =>
  async (): Promise<CloudHarness> => {
    const prefix = motoPrefix("mc")
    const scope = Effect.runSync(Scope.make())
    const rc: ResourceConfig = {
      type: "aws",
      priority: 1,
      quantity: { min: 0, max: 5 },
      reservation: { queue: null, account: null, property: null },
      config: {
        access_key_id: MOTO_CREDENTIALS.accessKeyId,
        secret_access_key: MOTO_CREDENTIALS.secretAccessKey,
        region_name: region,
        image_id: MOTO_AMI,
        instance_type: "c5.xlarge",
        instance_name_prefix: prefix,
        endpoint_url: MOTO_ENDPOINT,
        max_attempts: 1,
        api_timeout: 10,
        reverse_dns: false,
        ...extra
      }
    }
    const made = await Effect.runPromise(Effect.either(awsFactory("aws", rc)).pipe(Scope.extend(scope)))
    if (Either.isLeft(made)) throw new Error(made.left.message)
    return {
      cloud: made.right,
      resource: "aws",
      prefix,
      cores: 4,
      // moto does everything at once
      settle: async () => {},
      addForeign: async (name) => {
        await motoRunNamed(region, name)
      },
      noQuota: "moto enforces no instance limit",
      close: async () => {
        await Effect.runPromise(Scope.close(scope, Exit.void))
      }
    }
  }

describeWithMoto("EC2 layer against moto", () => {
  cloudContract(`EC2 layer, on-demand, against moto (${MOTO_ENDPOINT})`, motoHarness("ap-southeast-2", {}))
  cloudContract(`EC2 layer, spot, against moto (${MOTO_ENDPOINT})`, motoHarness("eu-west-3", { spot_bid: "0.12", spot_timeout: 900 }))
})
