import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { runCli, startCli } from './testing/run-cli.js';

describe('chatshyld init, the config it writes', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'chatshyld-init-file-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('points $schema of a new project at a file that exists', async () => {
    const project = await mkdtemp(join(root, 'new-'));
    const result = await runCli(['init', '--stage', 'dev', '--account', '123456789012', '--region', 'eu-west-1'], { cwd: project });
    expect(result.code, result.stderr).toBe(0);
    const config = JSON.parse(await readFile(join(project, 'chatshyld.config.json'), 'utf8'));
    await expect(access(resolve(project, config.$schema))).resolves.toBeUndefined();
  });

  it('writes no account or region for the local stage', async () => {
    const project = await mkdtemp(join(root, 'local-'));
    const result = await runCli(['init', '--stage', 'local', '--account', '123456789012', '--region', 'eu-west-1'], { cwd: project });
    expect(result.code, result.stderr).toBe(0);
    const text = await readFile(join(project, 'chatshyld.config.json'), 'utf8');
    expect(text).not.toContain('123456789012');
    expect(text).not.toContain('eu-west-1');
  });

  it('adds one stage and leaves the rest of the file as it was', async () => {
    const project = await mkdtemp(join(root, 'add-'));
    const original = {
      $schema: './somewhere/else.json',
      project: 'acme',
      stages: { dev: { account: '111111111111', region: 'eu-west-1', limits: { sendOtpIp: { limit: 9, windowSeconds: 60 } }, tracing: true } },
    };
    await writeFile(join(project, 'chatshyld.config.json'), `${JSON.stringify(original, null, 4)}\n`);
    const result = await runCli(['init', '--stage', 'qa', '--account', '222222222222', '--region', 'eu-west-1'], { cwd: project });
    expect(result.code, result.stderr).toBe(0);
    const text = await readFile(join(project, 'chatshyld.config.json'), 'utf8');
    const config = JSON.parse(text);
    expect(config.$schema).toBe('./somewhere/else.json');
    expect(config.stages.dev).toEqual(original.stages.dev);
    expect(config.stages.qa.account).toBe('222222222222');
    expect(text).toContain('\n    "project"'); // its indentation too
  });

  it('edits the stages in place: other stages keep their layout byte for byte, --force replaces only its stage', async () => {
    const project = await mkdtemp(join(root, 'layout-'));
    const path = join(project, 'chatshyld.config.json');
    const prod = `"prod": { "account": "333333333333", "region": "eu-west-1", "protected": true, "limits": {"sendOtpIp": {"limit": 9, "windowSeconds": 60}} }`;
    const original = `{\n  "project": "acme",\n  "stages": {\n    "dev": {"account": "111111111111", "region": "eu-west-1"},\n    ${prod}\n  }\n}\n`;
    await writeFile(path, original);
    const added = await runCli(['init', '--stage', 'qa', '--account', '222222222222', '--region', 'eu-west-1'], { cwd: project });
    expect(added.code, added.stderr).toBe(0);
    const withQa = await readFile(path, 'utf8');
    expect(withQa.startsWith(original.slice(0, original.indexOf(prod) + prod.length))).toBe(true);
    expect(withQa).toContain('\n    "qa": {\n      "account": "222222222222"');
    expect(JSON.parse(withQa).stages.qa.account).toBe('222222222222');

    const replaced = await runCli(['init', '--stage', 'dev', '--account', '444444444444', '--region', 'eu-west-1', '--force'], { cwd: project });
    expect(replaced.code, replaced.stderr).toBe(0);
    const text = await readFile(path, 'utf8');
    expect(text).toContain(`\n    ${prod},\n`);
    expect(JSON.parse(text).stages).toMatchObject({ dev: { account: '444444444444' }, qa: { account: '222222222222' }, prod: { account: '333333333333' } });

    const empty = await mkdtemp(join(root, 'empty-'));
    await writeFile(join(empty, 'chatshyld.config.json'), '{"project": "acme", "stages": {}}\n');
    expect((await runCli(['init', '--stage', 'qa', '--account', '222222222222', '--region', 'eu-west-1'], { cwd: empty })).code).toBe(0);
    expect(JSON.parse(await readFile(join(empty, 'chatshyld.config.json'), 'utf8')).stages.qa.region).toBe('eu-west-1');
  });

  it('refuses an unreadable or malformed --twilio-credentials file before writing the config', async () => {
    const project = await mkdtemp(join(root, 'bad-twilio-'));
    await writeFile(join(project, 'broken.json'), '{"accountSid": ');
    await writeFile(join(project, 'partial.json'), '{"accountSid": "AC1"}');
    for (const [file, message] of [['missing.json', /cannot read .*missing\.json \(ENOENT\)/], ['broken.json', /is not JSON/], ['partial.json', /needs accountSid and authToken/]] as const) {
      const result = await runCli(['init', '--stage', 'dev', '--account', '123456789012', '--region', 'eu-west-1', '--twilio-credentials', join(project, file)], { cwd: project });
      expect(result.code, file).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      await expect(access(join(project, 'chatshyld.config.json'))).rejects.toThrow();
    }
  });

  it('Ctrl-C while it stores the Twilio secret exits 130 and puts the config back', async () => {
    const project = await mkdtemp(join(root, 'ctrl-c-'));
    const credentials = join(project, 'twilio.json');
    await writeFile(credentials, JSON.stringify({ accountSid: `AC${'1'.repeat(32)}`, authToken: 'f'.repeat(32), verifyServiceSid: `VA${'2'.repeat(32)}` }));
    // An AWS endpoint that takes the connection and never answers.
    const tarpit: Server = createServer(() => {});
    await new Promise<void>((resolve) => tarpit.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = tarpit.address() as { port: number };
      const { child, result } = startCli(['init', '--stage', 'dev', '--account', '123456789012', '--region', 'eu-west-1', '--twilio-credentials', credentials], {
        cwd: project,
        env: {
          AWS_ACCESS_KEY_ID: 'AKIAFAKE',
          AWS_SECRET_ACCESS_KEY: 'fake',
          AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_PROFILE: undefined,
          CHATSHYLD_AWS_REQUEST_TIMEOUT_MS: '60000',
          HOME: project,
        },
      });
      let stderr = '';
      child.stderr!.on('data', (chunk) => {
        stderr += chunk;
        if (/wrote stage dev/.test(stderr)) setTimeout(() => child.kill('SIGINT'), 300);
      });
      const outcome = await result;
      expect(outcome.code, outcome.stderr).toBe(130);
      expect(outcome.stderr).toContain('is back as it was');
      expect(outcome.stderr).not.toMatch(/\n\s+at /);
      await expect(access(join(project, 'chatshyld.config.json'))).rejects.toThrow();
    } finally {
      tarpit.close();
    }
  }, 60_000);

  it('rejects a bad alarm e-mail at once, before writing anything', async () => {
    const project = await mkdtemp(join(root, 'mail-'));
    const result = await runCli(['init', '--stage', 'dev', '--account', '123456789012', '--region', 'eu-west-1', '--alarm-email', 'oncall'], { cwd: project });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--alarm-email');
    await expect(access(join(project, 'chatshyld.config.json'))).rejects.toThrow();
  });

  it('when storing the Twilio secret fails after the config was written, puts the config back so a re-run works', async () => {
    const project = await mkdtemp(join(root, 'twilio-'));
    const credentials = join(project, 'twilio.json');
    await writeFile(credentials, JSON.stringify({ accountSid: `AC${'1'.repeat(32)}`, authToken: 'f'.repeat(32), verifyServiceSid: `VA${'2'.repeat(32)}` }));
    const args = ['init', '--stage', 'dev', '--account', '123456789012', '--region', 'eu-west-1', '--twilio-credentials', credentials];
    const offline = {
      AWS_ACCESS_KEY_ID: 'AKIAFAKE',
      AWS_SECRET_ACCESS_KEY: 'fake',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PROFILE: undefined,
      CHATSHYLD_AWS_MAX_ATTEMPTS: '1',
      HOME: dirname(credentials),
    };
    const first = await runCli(args, { cwd: project, env: offline });
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toContain('connection was refused');
    expect(first.stderr).not.toMatch(/\n\s+at /);
    await expect(access(join(project, 'chatshyld.config.json'))).rejects.toThrow();
    const again = await runCli(args, { cwd: project, env: offline });
    expect(again.stderr).not.toContain('already has stage dev');
  });
});
