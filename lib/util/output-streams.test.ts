import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { isStreamGone, watchOutputStreams } from './output-streams';

const err = (code: string) => Object.assign(new Error(code), { code });

describe('watchOutputStreams', () => {
  it('calls back once, naming the first stream whose reader went away, and absorbs every later error', () => {
    const stdout = new EventEmitter();
    const stderr = new EventEmitter();
    const onGone = vi.fn();
    watchOutputStreams({ stdout, stderr }, onGone);
    stderr.emit('error', err('EPIPE'));
    stdout.emit('error', err('EPIPE'));
    stderr.emit('error', err('ERR_STREAM_DESTROYED'));
    expect(onGone).toHaveBeenCalledTimes(1);
    expect(onGone.mock.calls[0]![0]).toBe('stderr');
  });

  it('an error that does not mean the reader is gone is absorbed without stopping anything', () => {
    const stdout = new EventEmitter();
    const onGone = vi.fn();
    watchOutputStreams({ stdout }, onGone);
    // Without a listener this emit would throw (an unhandled 'error' event).
    expect(() => stdout.emit('error', err('EIO'))).not.toThrow();
    expect(onGone).not.toHaveBeenCalled();
  });

  it('knows which codes mean gone', () => {
    expect(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'EBADF'].map((c) => isStreamGone(err(c)))).toEqual([true, true, true, true]);
    expect([err('EAGAIN'), err('EIO'), new Error('x'), 'EPIPE', null].map(isStreamGone)).toEqual([false, false, false, false, false]);
  });
});
