/**
 * `chatshyld.config.json`: found by walking up from the working directory, validated against the
 * schema, and turned into the settings of one stage. Every mistake names the file, the field and
 * the fix.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { localStage, type ProjectConfig, type StageConfig } from '../service/stage.js';
import { configSchema, stageNamePattern } from './config-schema.js';
import { configError, usageError } from './errors.js';

export const configFileName = 'chatshyld.config.json';
// Stage configuration is shared knowledge (service/stage.ts); this module reads and checks the file.
export { localStage, stageSettings, type ProjectConfig, type StageConfig } from '../service/stage.js';

export interface LoadedConfig {
  readonly path: string;
  /** The folder holding the config: the project root, where `.chatshyld/` lives. */
  readonly root: string;
  readonly config: ProjectConfig;
}

/** Finds the nearest config from `cwd` upwards; undefined when there is none. */
export async function findConfig(cwd: string): Promise<LoadedConfig | undefined> {
  for (let directory = cwd; ; directory = dirname(directory)) {
    const path = join(directory, configFileName);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) return { path, root: directory, config: parseConfig(text, relative(cwd, path) || path) };
    if (dirname(directory) === directory) return undefined;
  }
}

export async function loadConfig(cwd: string): Promise<LoadedConfig> {
  const found = await findConfig(cwd);
  if (!found) {
    throw configError(
      `no ${configFileName} in ${cwd} or any folder above it`,
      'run the command from your ChatShyld project, or create the file with `chatshyld init`',
    );
  }
  return found;
}

let validator: ReturnType<Ajv['compile']> | undefined;

/** Parses and validates the config's text; `where` names the file in messages. */
export function parseConfig(text: string, where: string): ProjectConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw configError(`${where} is not valid JSON: ${(error as Error).message}`, `fix the syntax of ${where}`);
  }
  // verbose: errors carry the offending value and the schema's description of the field.
  validator ??= new Ajv({ allErrors: true, strict: false, verbose: true }).compile(configSchema);
  if (!validator(value)) {
    // A bad stage name is reported twice (the inner pattern and propertyNames); keep the clearer one.
    const problems = (validator.errors ?? [])
      .filter((error) => (error as { propertyName?: string }).propertyName === undefined)
      .map(describeProblem);
    throw configError(
      `${where}: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1).join('; ')})` : ''}`,
      `fix the field in ${where}; chatshyld.config.schema.json describes every field`,
    );
  }
  return value as ProjectConfig;
}

function describeProblem(error: ErrorObject): string {
  const field = error.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(top level)';
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return `${field === '(top level)' ? '' : `${field}: `}unknown field "${params.additionalProperty}"`;
    case 'required':
      return `${field === '(top level)' ? '' : `${field}: `}missing field "${params.missingProperty}"`;
    case 'propertyNames':
      return `stage name "${params.propertyName}" must match ${stageNamePattern}`;
    case 'pattern': {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return `${field} must match ${params.pattern}, got ${JSON.stringify(error.data)}${description ? ` (${description})` : ''}`;
    }
    case 'maximum':
    case 'minimum': {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return `${field} ${error.message}, got ${JSON.stringify(error.data)}${description ? ` (${description})` : ''}`;
    }
    case 'enum':
      return `${field} must be one of ${(params.allowedValues as unknown[]).join(', ')}, got ${JSON.stringify(error.data)}`;
    default:
      return `${field} ${error.message}, got ${JSON.stringify(error.data)}`;
  }
}

export interface ResolvedStage {
  readonly name: string;
  /** Undefined for `local` when the config has no entry for it. */
  readonly config: StageConfig | undefined;
}

/** The stage from `--stage`, else `CHATSHYLD_STAGE`; checked against the name rule and the config. */
export function stageName(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const name = flag ?? env.CHATSHYLD_STAGE;
  if (name === undefined || name === '') return undefined;
  if (!new RegExp(stageNamePattern).test(name)) {
    throw usageError(
      `stage name "${name}" must match ${stageNamePattern}`,
      'use lower-case letters, digits and dashes, starting with a letter, at most 16 characters',
    );
  }
  return name;
}

export function resolveStage(loaded: LoadedConfig, name: string): ResolvedStage {
  const config = loaded.config.stages[name];
  if (!config && name !== localStage) {
    const known = Object.keys(loaded.config.stages);
    throw configError(
      `stage "${name}" is not in ${loaded.path}`,
      known.length ? `use one of: ${known.join(', ')}; or add "${name}" under "stages"` : `add "${name}" under "stages"`,
    );
  }
  return { name, config };
}
