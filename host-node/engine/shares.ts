// What this charger's own published views gave each member, and when. The core counts a
// member at the largest share my recent views gave it (rule 6: it may act on an older view of
// mine until my newer one reaches it), and reserves an offline member during its hold at the
// largest share my views gave it since it was last heard (its report of raising to that share
// may have been lost). Bounded: entries older than keep_ms are dropped.
export class ShareHistory {
  // Each vector I computed, from when it was in force until it was replaced (null: still).
  private entries: Array<{ from_ms: number; until_ms: number | null; shares: Record<string, number> }> = [];

  constructor(private readonly keep_ms: number) {}

  record(now_ms: number, shares: Record<string, number>): void {
    const last = this.entries[this.entries.length - 1];
    if (last && same_shares(last.shares, shares)) return;
    if (last) last.until_ms = now_ms;
    this.entries.push({ from_ms: now_ms, until_ms: null, shares: { ...shares } });
    this.entries = this.entries.filter((e) => e.until_ms === null || now_ms - e.until_ms <= this.keep_ms);
  }

  // The largest share of member in any vector in force at some time in [since_ms, now].
  max_since(member: string, since_ms: number): number | undefined {
    let max: number | undefined;
    for (const e of this.entries) {
      if (e.until_ms !== null && e.until_ms < since_ms) continue;
      const share = e.shares[member];
      if (share !== undefined && (max === undefined || share > max)) max = share;
    }
    return max;
  }
}

function same_shares(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
