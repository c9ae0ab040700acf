// The committed current (DESIGN.md, rule 6): the highest limit this charger has allowed in the
// last ev_response_ms, because its car may take that long to follow a decrease. Peers count
// it against their own increases, which is what makes "decrease before increase" hold.
export class CommittedTracker {
  private applied_a = 0;
  // Limits no longer in force and until when they were: pruned once older than ev_response.
  private history: Array<{ until_ms: number; applied_a: number }> = [];

  constructor(private readonly ev_response_ms: number) {}

  apply(now_ms: number, applied_a: number): void {
    if (applied_a === this.applied_a) return;
    this.history.push({ until_ms: now_ms, applied_a: this.applied_a });
    this.applied_a = applied_a;
    this.prune(now_ms);
  }

  // Records that up to now_ms the charger may have allowed up to applied_a (used at start).
  assume_before(now_ms: number, applied_a: number): void {
    this.history.push({ until_ms: now_ms, applied_a });
  }

  applied(): number {
    return this.applied_a;
  }

  committed(now_ms: number): number {
    this.prune(now_ms);
    let committed_a = this.applied_a;
    for (const h of this.history) committed_a = Math.max(committed_a, h.applied_a);
    return committed_a;
  }

  // When the committed current will next fall (a wake-up for the engine), or null.
  next_change_ms(now_ms: number): number | null {
    this.prune(now_ms);
    let next: number | null = null;
    for (const h of this.history) {
      if (h.applied_a > this.applied_a) {
        const at = h.until_ms + this.ev_response_ms;
        if (next === null || at < next) next = at;
      }
    }
    return next;
  }

  private prune(now_ms: number): void {
    // Bounded: at most one entry per change within ev_response.
    this.history = this.history.filter((h) => now_ms - h.until_ms < this.ev_response_ms);
  }
}
