/** Every use case, for the sandbox and the tests, which serve every route from one process. */
import { buildAccountDeletion, buildAvatarUploads, buildProfiles, servicesOf, type Adapters } from './composition.js';
import { buildSendCode, buildVerifyCode } from './composition-otp.js';
import type { Services } from './http/routes.js';

export function composeServices(adapters: Adapters): Services {
  return servicesOf(adapters, {
    sendCode: buildSendCode,
    verifyCode: buildVerifyCode,
    profiles: buildProfiles,
    avatarUploads: buildAvatarUploads,
    accountDeletion: buildAccountDeletion,
  });
}
