// A small seeded PRNG (mulberry32): every random choice of a simulation run comes from one
// of these, so a seed reproduces the run exactly. Not for anything cryptographic.
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  }

  // Uniform in [0, 1).
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }

  // Uniform in [low, high).
  range(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  // Uniform integer in [low, high] (both included).
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  // An independent stream derived from this one (e.g. one per link), so adding a consumer
  // does not shift every other random choice.
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 4294967296));
  }
}
