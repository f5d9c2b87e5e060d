/**
 * The sandbox's secrets file. Its format belongs to the secrets operations, which the sandbox and
 * `secrets … --stage local` share (`service/secrets/secrets-file.ts`); the sandbox's modules read it here.
 */
export * from '../secrets/secrets-file.js';
