import { GetParameterError } from '@aws-lambda-powertools/parameters/errors';
import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { MisconfigurationError } from '../../core/errors.js';
import type { SecretSource } from '../../core/ports.js';
import type { SecretName } from '../../manifest.js';

/**
 * Secrets from SSM Parameter Store (SecureString) through Powertools' cached provider. The function
 * knows only the parameter names its route was granted.
 */
export class SsmSecretSource implements SecretSource {
  constructor(
    private readonly provider: SSMProvider,
    private readonly parameterNames: Partial<Record<SecretName, string>>,
    private readonly maxAgeSeconds: number,
  ) {}

  async get(name: SecretName, options: { forceFetch?: boolean } = {}): Promise<string | undefined> {
    const parameter = this.parameterNames[name];
    if (!parameter) throw new MisconfigurationError(`this function has no access to secret ${name}`);
    try {
      const value = await this.provider.get(parameter, {
        decrypt: true,
        maxAge: this.maxAgeSeconds,
        forceFetch: options.forceFetch ?? false,
      });
      return typeof value === 'string' ? value : undefined;
    } catch (error) {
      if (error instanceof GetParameterError && (error.cause as Error | undefined)?.name === 'ParameterNotFound') {
        return undefined;
      }
      throw error;
    }
  }
}
