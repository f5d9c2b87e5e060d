import { describe, expect, it } from 'vitest';
import { resolveSettings } from '../service/settings.js';
import { parseConfig, stageSettings } from './config.js';

const configWith = (avatar: Record<string, unknown>) =>
  JSON.stringify({ project: 'chatshyld', stages: { dev: { account: '111111111111', region: 'eu-west-1', avatar } } });

describe('chatshyld.config.json: avatar URL lifetimes', () => {
  it('accepts a photo URL lifetime of exactly an hour, and gives it to the functions', () => {
    const config = parseConfig(configWith({ downloadExpiresSeconds: 3600, uploadExpiresSeconds: 600 }), 'chatshyld.config.json');
    const settings = stageSettings(config.stages.dev);
    expect(settings.avatar).toEqual({ downloadExpiresSeconds: 3600, uploadExpiresSeconds: 600 });
    expect(resolveSettings(settings).avatar.downloadExpiresSeconds).toBe(3600);
  });

  it('refuses one second more, naming the field, the value and why (exit 2)', () => {
    expect.assertions(4);
    try {
      parseConfig(configWith({ downloadExpiresSeconds: 3601 }), 'chatshyld.config.json');
    } catch (error) {
      const { message, exitCode, hint } = error as Error & { exitCode: number; hint: string };
      expect(message).toContain('stages.dev.avatar.downloadExpiresSeconds must be <= 3600, got 3601');
      expect(message).toContain('session credentials expire');
      expect(exitCode).toBe(2);
      expect(hint).toContain('chatshyld.config.schema.json');
    }
  });

  it("refuses S3's own ceiling of 604800 s, a fraction, and an upload form outside 60-600", () => {
    for (const avatar of [{ downloadExpiresSeconds: 604_800 }, { downloadExpiresSeconds: 0 }, { downloadExpiresSeconds: 30.5 }, { uploadExpiresSeconds: 601 }, { uploadExpiresSeconds: 59 }, { ttl: 5 }]) {
      expect(() => parseConfig(configWith(avatar), 'chatshyld.config.json'), JSON.stringify(avatar)).toThrow(/stages\.dev\.avatar/);
    }
  });
});
