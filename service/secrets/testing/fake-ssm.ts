/**
 * A parameter store behind aws-sdk-client-mock that answers as SSM does for the calls the secret
 * store makes: versions numbered per name, `Overwrite: false` refused with ParameterAlreadyExists,
 * ParameterNotFound for a missing name, and history oldest first.
 */
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  type ParameterHistory,
} from '@aws-sdk/client-ssm';
import type { AwsStub } from 'aws-sdk-client-mock';

export interface FakeSsm {
  readonly parameters: Map<string, ParameterHistory[]>;
  /** Runs before each PutParameter answers (to hold a writer mid-write). */
  beforePut?: (name: string) => Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function fakeSsm(mock: AwsStub<any, any, any>): FakeSsm {
  const fake: FakeSsm = { parameters: new Map() };
  const notFound = (name: string) => new ParameterNotFound({ message: `${name} not found`, $metadata: {} });
  mock.on(PutParameterCommand).callsFake(async (input) => {
    await fake.beforePut?.(input.Name);
    const versions = fake.parameters.get(input.Name) ?? [];
    if (versions.length > 0 && !input.Overwrite) {
      throw new ParameterAlreadyExists({ message: `${input.Name} exists`, $metadata: {} });
    }
    const Version = (versions.at(-1)?.Version ?? 0) + 1;
    fake.parameters.set(input.Name, [
      ...versions,
      { Name: input.Name, Value: input.Value, Type: input.Type, Tier: input.Tier ?? 'Standard', Version, LastModifiedDate: new Date(), LastModifiedUser: 'arn:aws:iam::1:user/test' },
    ]);
    return { Version, Tier: input.Tier ?? 'Standard' };
  });
  mock.on(GetParameterCommand).callsFake(async (input) => {
    const latest = fake.parameters.get(input.Name)?.at(-1);
    if (!latest) throw notFound(input.Name);
    return { Parameter: { Name: input.Name, Value: latest.Value, Version: latest.Version, Type: latest.Type } };
  });
  mock.on(GetParameterHistoryCommand).callsFake(async (input) => {
    const versions = fake.parameters.get(input.Name);
    if (!versions) throw notFound(input.Name);
    return { Parameters: versions };
  });
  mock.on(DeleteParameterCommand).callsFake(async (input) => {
    if (!fake.parameters.delete(input.Name)) throw notFound(input.Name);
    return {};
  });
  return fake;
}
