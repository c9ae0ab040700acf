// The virtual network between simulated chargers: one directed link per ordered pair, each
// with latency, jitter and a loss rate, and faults that cut links (one way or both ways).
//
// Transports: `ws` is a WebSocket over TCP, so one link delivers in order (a message never
// overtakes an earlier one); `http` is a status poll per message, so replies on one link can
// arrive out of order and an older status can overwrite a newer one at the receiver.
// A message in flight when its link is cut is lost (the connection it travelled on died).
// A link may also duplicate a message (the copy arrives on its own delay, possibly after
// newer ones: a stale status delivered again) and reorder one (it ignores the link's order,
// on ws too: a reconnect, a proxy). Every delay stays within latency + jitter.
import type { EventQueue } from './event-queue.js';
import type { Rng } from './prng.js';

export type Transport = 'ws' | 'http';

export interface LinkSpec {
  latency_ms: number;
  jitter_ms: number; // added uniformly in [0, jitter_ms)
  loss: number; // probability that one message is lost, 0..1
  duplicate?: number; // probability that a message is delivered twice, 0..1
  reorder?: number; // probability that a message ignores the link's order, 0..1
}

export interface NetworkStats {
  sent_count: number;
  delivered_count: number;
  lost_count: number; // random loss
  cut_count: number; // dropped by a partition or a dead receiver
  reordered_count: number;
  duplicated_count: number;
  max_delay_ms: number;
}

interface Link extends LinkSpec {
  cut_count: number; // how many active faults cut this link (faults may overlap)
  last_delivery_ms: number;
  last_sent_seq: number;
  last_delivered_seq: number;
}

export class Network {
  private readonly links = new Map<string, Map<string, Link>>();
  readonly stats: NetworkStats = { sent_count: 0, delivered_count: 0, lost_count: 0, cut_count: 0, reordered_count: 0, duplicated_count: 0, max_delay_ms: 0 };

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Rng,
    private readonly transport: Transport,
    private readonly default_link: LinkSpec,
  ) {}

  private link(from: string, to: string): Link {
    // By sender, then receiver: looked up for every message, without building a key.
    let from_links = this.links.get(from);
    if (!from_links) {
      from_links = new Map();
      this.links.set(from, from_links);
    }
    let link = from_links.get(to);
    if (!link) {
      link = { ...this.default_link, cut_count: 0, last_delivery_ms: -Infinity, last_sent_seq: 0, last_delivered_seq: 0 };
      from_links.set(to, link);
    }
    return link;
  }

  // Told of every change to a link (the limit tracker judges who could hear whom from it).
  on_change: (() => void) | null = null;

  set_link(from: string, to: string, spec: Partial<LinkSpec>): void {
    Object.assign(this.link(from, to), spec);
    this.on_change?.();
  }

  cut(from: string, to: string): void {
    this.link(from, to).cut_count++;
    this.on_change?.();
  }

  heal(from: string, to: string): void {
    const link = this.link(from, to);
    link.cut_count = Math.max(0, link.cut_count - 1);
    this.on_change?.();
  }

  is_cut(from: string, to: string): boolean {
    return this.link(from, to).cut_count > 0;
  }

  // A message from -> to can arrive now: the link is not cut and does not lose everything.
  can_deliver(from: string, to: string): boolean {
    const link = this.link(from, to);
    return link.cut_count === 0 && link.loss < 1;
  }

  // Sends one message; deliver runs at the receiver when (and if) each copy arrives; lost runs
  // instead when it does not (lost at random, or its link is cut when it leaves or a copy arrives),
  // at the instant the loss happens: a stream (a /ws session) that loses a message is broken.
  // Returns how many copies are on their way (0: lost at once).
  send(from: string, to: string, deliver: () => void, lost?: () => void): number {
    const link = this.link(from, to);
    this.stats.sent_count++;
    if (link.cut_count > 0) {
      this.stats.cut_count++;
      lost?.();
      return 0;
    }
    if (link.loss > 0 && this.rng.next() < link.loss) {
      this.stats.lost_count++;
      lost?.();
      return 0;
    }
    const seq = ++link.last_sent_seq;
    this.schedule(link, seq, link.reorder !== undefined && link.reorder > 0 && this.rng.next() < link.reorder, deliver, lost);
    if (link.duplicate !== undefined && link.duplicate > 0 && this.rng.next() < link.duplicate) {
      this.stats.duplicated_count++;
      this.schedule(link, seq, true, deliver, lost);
      return 2;
    }
    return 1;
  }

  private schedule(link: Link, seq: number, unordered: boolean, deliver: () => void, lost?: () => void): void {
    const sent_ms = this.queue.now_ms;
    let at_ms = sent_ms + link.latency_ms + (link.jitter_ms > 0 ? this.rng.next() * link.jitter_ms : 0);
    if (!unordered) {
      if (this.transport === 'ws') at_ms = Math.max(at_ms, link.last_delivery_ms);
      link.last_delivery_ms = Math.max(link.last_delivery_ms, at_ms);
    }
    this.queue.at(at_ms, () => {
      if (link.cut_count > 0) {
        this.stats.cut_count++;
        lost?.();
        return;
      }
      if (seq < link.last_delivered_seq) this.stats.reordered_count++;
      link.last_delivered_seq = Math.max(link.last_delivered_seq, seq);
      this.stats.delivered_count++;
      this.stats.max_delay_ms = Math.max(this.stats.max_delay_ms, this.queue.now_ms - sent_ms);
      deliver();
    });
  }
}
