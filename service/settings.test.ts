import { describe, expect, it } from 'vitest';
import { avatarUrlBounds, resolveSettings } from './settings.js';

describe('avatar URL lifetimes', () => {
  const download = (downloadExpiresSeconds: unknown) => () => resolveSettings({ avatar: { downloadExpiresSeconds: downloadExpiresSeconds as number } });
  const upload = (uploadExpiresSeconds: unknown) => () => resolveSettings({ avatar: { uploadExpiresSeconds: uploadExpiresSeconds as number } });

  it('takes a photo URL lifetime up to an hour, and not a second more', () => {
    expect(avatarUrlBounds.downloadExpiresSeconds.max).toBe(3600);
    expect(download(3600)().avatar.downloadExpiresSeconds).toBe(3600);
    expect(download(3601)).toThrow(/avatar\.downloadExpiresSeconds must be a whole number of seconds from 1 to 3600, got 3601: a photo URL dies with the credentials/);
    // S3's own ceiling for a SigV4 URL is far past ours, and refused too.
    expect(download(604_800)).toThrow(/from 1 to 3600/);
    expect(download(1)().avatar.downloadExpiresSeconds).toBe(1);
    for (const bad of [0, -5, 299.5, '300', Number.NaN, Number.POSITIVE_INFINITY]) expect(download(bad), String(bad)).toThrow(/downloadExpiresSeconds/);
  });

  it('takes an upload form lifetime from 60 to 600 seconds', () => {
    expect(upload(60)().avatar.uploadExpiresSeconds).toBe(60);
    expect(upload(600)().avatar.uploadExpiresSeconds).toBe(600);
    expect(upload(59)).toThrow(/avatar\.uploadExpiresSeconds must be a whole number of seconds from 60 to 600, got 59/);
    expect(upload(601)).toThrow(/got 601/);
  });

  it('keeps the defaults inside the bounds', () => {
    expect(resolveSettings().avatar).toEqual({ uploadExpiresSeconds: 300, downloadExpiresSeconds: 300 });
  });
});
