import { presignAvatar } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';

export const handler = lambdaEntry('presignAvatar', presignAvatar);
