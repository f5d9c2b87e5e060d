/** Names of a stage's AWS resources, for commands that must not load the CDK (status, logs, doctor). */
export { functionLogGroup, functionName, functionPrefix, stackName } from '../service/stage.js';
