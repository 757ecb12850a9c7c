/**
 * Counts failed sign-ins per key (a username, a client address) in a sliding
 * window; past the limit the key is refused until its oldest failure ages
 * out. In memory, per process: with several replicas each enforces its own
 * limit, which still bounds guessing to limit × replicas per window.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly opts: { limit: number; windowMs: number; now: () => number }) {}

  /** Milliseconds until `key` may try again; 0 when it may try now. */
  retryAfter(key: string): number {
    const recent = this.prune(key);
    if (recent.length < this.opts.limit) return 0;
    return recent[0]! + this.opts.windowMs - this.opts.now();
  }

  fail(key: string): void {
    const recent = this.prune(key);
    recent.push(this.opts.now());
    this.failures.set(key, recent);
    if (this.failures.size > 10_000) this.sweep();
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  private prune(key: string): number[] {
    const since = this.opts.now() - this.opts.windowMs;
    const recent = (this.failures.get(key) ?? []).filter((t) => t > since);
    if (recent.length === 0) this.failures.delete(key);
    return recent;
  }

  private sweep(): void {
    for (const key of [...this.failures.keys()]) this.prune(key);
  }
}
