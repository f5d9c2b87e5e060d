/**
 * Swapped in for `@aws-sdk/credential-provider-node` when bundling functions. In Lambda the
 * execution role's credentials are always in the environment, so the default chain's SSO, INI,
 * process, web-identity and login providers (and the STS/SSO clients they carry, ~90 KB minified)
 * are dead weight in every bundle. The sandbox and the CLI keep the full chain.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

export const defaultProvider = (init?: Parameters<typeof fromEnv>[0]) => fromEnv(init);
