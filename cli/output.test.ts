import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { colorLevel, Output } from './output.js';

const sink = (isTTY: boolean) => Object.assign(new Writable({ write: (_chunk, _encoding, done) => done() }), { isTTY });

describe('colour, per stream', () => {
  it('follows each stream on its own: a terminal on stderr and a pipe on stdout', () => {
    const out = new Output({ stdout: sink(false), stderr: sink(true), stdin: {}, env: { TERM: 'xterm' }, cwd: '/' }, {});
    expect(out.paint.green('ok')).toBe('ok');
    expect(out.paintErr.green('ok')).toBe('\u001b[32mok\u001b[39m');
  });

  it('honours --no-color, NO_COLOR, TERM=dumb and FORCE_COLOR', () => {
    expect(colorLevel({}, { TERM: 'xterm' }, true)).toBe(1);
    expect(colorLevel({ color: false }, { TERM: 'xterm', FORCE_COLOR: '1' }, true)).toBe(0);
    expect(colorLevel({}, { NO_COLOR: '1' }, true)).toBe(0);
    expect(colorLevel({}, { TERM: 'dumb' }, true)).toBe(0);
    expect(colorLevel({}, { FORCE_COLOR: '1' }, false)).toBe(1);
    expect(colorLevel({}, { FORCE_COLOR: '0' }, true)).toBe(0);
    expect(colorLevel({}, { FORCE_COLOR: '3' }, false)).toBe(3);
    const forced = new Output({ stdout: sink(false), stderr: sink(false), stdin: {}, env: { FORCE_COLOR: '1' }, cwd: '/' }, {});
    expect(forced.paint.red('x')).toBe('\u001b[31mx\u001b[39m');
  });
});
