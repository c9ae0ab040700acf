// Repeated events from one source (a connection, a client address) are logged the 1st, 2nd,
// 4th, 8th … time, with the count, so a flood of junk costs a few log lines rather than one
// per message. Bounded: at most `max_keys` sources are remembered (the oldest is forgotten).
export class LogThrottle {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max_keys = 1024) {}

  // The event's count when it should be logged, else null.
  note(key: string): number | null {
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.delete(key); // re-inserted last: Map order is least recently seen first
    this.counts.set(key, count);
    if (this.counts.size > this.max_keys) this.counts.delete(this.counts.keys().next().value as string);
    return (count & (count - 1)) === 0 ? count : null;
  }

  forget(key: string): void {
    this.counts.delete(key);
  }
}

// " (3rd time)" style suffix for a logged count above one.
export function times(count: number): string {
  return count <= 1 ? '' : ` (${count} times so far)`;
}

// The same rule for a single source counted by its owner (one connection): log the 1st, 2nd,
// 4th … occurrence.
export function log_this_time(count: number): boolean {
  return count > 0 && (count & (count - 1)) === 0;
}
