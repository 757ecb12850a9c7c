/**
 * stdout and stderr can go away under a running server: the reader of the
 * pipe exits (a log shipper or journald restarted, a supervisor or test
 * harness that died). Each write then fails with EPIPE, which Node reports as
 * an 'error' event on the stream. With no listener that is an uncaught
 * exception, which Next.js's handler prints with console.error onto the same
 * dead stderr: a loop through the event loop that spins a core for ever and
 * never exits (seen: orphaned test servers at 7 % CPU each, hours later).
 *
 * Kubegate treats a lost stdout or stderr as a reason to stop: its log and
 * audit lines have nowhere to go, so it stops gracefully (requests in flight
 * finish, pending audit rows reach the database) and exits non-zero, and a
 * supervisor starts it again with working streams. Later errors of the
 * same streams are absorbed: nothing loops.
 */
import type { EventEmitter } from 'node:events';

/** Error codes that mean the reader is gone for good (not a full pipe: EAGAIN is retried by the writers). */
const GONE = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END', 'EBADF']);

export function isStreamGone(err: unknown): boolean {
  return typeof err === 'object' && err !== null && GONE.has(String((err as { code?: unknown }).code));
}

/**
 * Listens for errors on each named stream; the first one that means its
 * reader is gone calls `onGone(name)`, once for all streams. Any other error
 * of these streams is absorbed too: reporting it would write to them.
 */
export function watchOutputStreams(streams: Record<string, EventEmitter>, onGone: (name: string, err: unknown) => void): void {
  let called = false;
  for (const [name, stream] of Object.entries(streams)) {
    stream.on('error', (err: unknown) => {
      if (called || !isStreamGone(err)) return;
      called = true;
      onGone(name, err);
    });
  }
}
