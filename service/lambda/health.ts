import { health } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';

export const handler = lambdaEntry('health', health);
