// The last 10 minutes of measured currents, kept in the page (a reload starts it afresh).
// One sample per group-status refresh (at most every 2 s): at most 300 samples.
export const WINDOW_MS = 10 * 60 * 1000;

export interface Sample {
  at_ms: number;
  currents_a: Record<string, number>; // member name -> measured amps (online members only)
  total_a: number;
  limit_a: number | null;
}

export class History {
  samples: Sample[] = [];

  add(sample: Sample): void {
    const last = this.samples[this.samples.length - 1];
    if (last && sample.at_ms <= last.at_ms) return;
    this.samples.push(sample);
    const oldest_ms = sample.at_ms - WINDOW_MS;
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop].at_ms < oldest_ms) drop++;
    if (drop > 0) this.samples.splice(0, drop);
  }

  members(): string[] {
    const names = new Set<string>();
    for (const s of this.samples) for (const name of Object.keys(s.currents_a)) names.add(name);
    return [...names].sort();
  }
}
