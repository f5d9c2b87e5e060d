import { logout } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';

export const handler = lambdaEntry('logout', logout);
