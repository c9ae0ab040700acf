// Virtual time: a clock that only moves when the queue runs the next event, and a binary
// heap of events ordered by (time, insertion order), so runs are deterministic and never
// sleep. Cancelling is lazy: a cancelled event stays in the heap and is skipped.
export interface SimEvent {
  at_ms: number;
  seq: number;
  cancelled: boolean;
  run: () => void;
}

export class EventQueue {
  now_ms: number;
  private heap: SimEvent[] = [];
  private seq = 0;
  executed_count = 0;

  constructor(start_ms: number) {
    this.now_ms = start_ms;
  }

  // Schedules run at at_ms (never in the past: an event for "now or before" runs now, after
  // the events already queued for now).
  at(at_ms: number, run: () => void): SimEvent {
    const event: SimEvent = { at_ms: Math.max(at_ms, this.now_ms), seq: this.seq++, cancelled: false, run };
    this.push(event);
    return event;
  }

  after(delay_ms: number, run: () => void): SimEvent {
    return this.at(this.now_ms + delay_ms, run);
  }

  // Runs every event up to and including end_ms, in order; the clock ends at end_ms.
  run_until(end_ms: number): void {
    while (this.heap.length > 0 && this.heap[0].at_ms <= end_ms) {
      const event = this.pop();
      if (event.cancelled) continue;
      this.now_ms = event.at_ms;
      this.executed_count++;
      event.run();
    }
    this.now_ms = Math.max(this.now_ms, end_ms);
  }

  size(): number {
    return this.heap.length;
  }

  private before(a: SimEvent, b: SimEvent): boolean {
    return a.at_ms < b.at_ms || (a.at_ms === b.at_ms && a.seq < b.seq);
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private pop(): SimEvent {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.before(heap[left], heap[smallest])) smallest = left;
        if (right < heap.length && this.before(heap[right], heap[smallest])) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
        i = smallest;
      }
    }
    return top;
  }
}
