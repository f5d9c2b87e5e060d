import { deleteMe } from '../http/routes.js';
import { lambdaEntry } from './runtime.js';

export const handler = lambdaEntry('deleteMe', deleteMe);
