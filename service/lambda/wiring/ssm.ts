import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { SsmSecretSource } from '../../adapters/secrets/ssm.js';
import { once } from '../../composition.js';
import { secrets as secretDefinitions, type SecretName } from '../../manifest.js';
import { settings } from '../runtime.js';

/** One provider, so one cache, for every reader in the container. */
const provider = once(() => new SSMProvider());

/** The secrets this function was granted: their parameter names come in the environment. */
export const secrets = () => {
  const parameterNames: Partial<Record<SecretName, string>> = {};
  for (const definition of Object.values(secretDefinitions)) {
    const parameter = process.env[definition.env];
    if (parameter) parameterNames[definition.name] = parameter;
  }
  return new SsmSecretSource(provider(), parameterNames, settings().secretsCacheSeconds);
};
