import { patchMe } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';
import { buildProfiles } from '../composition.js';
import { userStore } from './wiring/dynamodb.js';
import { avatarStore } from './wiring/s3.js';
import { avatarUrlSigner } from './wiring/s3-urls.js';
import { secrets } from './wiring/ssm.js';

export const handler = lambdaEntry('patchMe', patchMe, { secrets, userStore, avatarStore, avatarUrlSigner }, { profiles: buildProfiles });
