// The chargers' traffic over the virtual network, as their stations produce and judge it:
//
// - status frames: the real /ws text (the whole document when a session starts, then
//   deltas; signed when the group has a key). A session is one subscriber at the sender
//   and one link session at the receiver, opened with the receiver's real handshake headers.
//   Over TCP a stream never has holes: a frame that is lost (at random, or on a cut link, or
//   to a receiver that died) breaks its session, and the next frame on that link opens a new
//   one, which starts with the whole document again. Opening is immediate (the socket's
//   reconnect timing is the node's PeerLink, not simulated).
// - with the `http` transport, every status is a GET /status answer (a poll per message, so
//   answers can overtake each other), checked like the node checks them.
// - requests (config sync's pushes and fetches): the request and its answer each cross the
//   network; no answer within the request's timeout is a timeout, a stopped receiver refuses.
import type { EventQueue } from './event-queue.js';
import type { Network, Transport } from './network.js';
import type { Station, PeerTransport, Subscriber, LinkSession } from '../station/station.js';
import { serve_peer } from '../station/peer-http.js';
import type { PeerStatusDoc } from '../engine/types.js';
import type { Oracle } from './oracle.js';
import type { LimitTracker } from './checker.js';

// The judges that watch every status message: what it grants (the oracle) and the limit it
// carries (the limit tracker).
export interface NetJudges {
  oracle: Oracle;
  limits: LimitTracker;
}

// The limit a status message carries (what a receiver learns from it), or null.
const reported_limit_a = (doc: PeerStatusDoc): number | null => {
  const b = doc.loadsharing;
  return typeof b?.group_max_current === 'number' ? b.group_max_current * (b.safety_factor ?? 1) : null;
};

const parse_doc = (text: string): PeerStatusDoc => {
  try {
    const doc: unknown = JSON.parse(text);
    return doc !== null && typeof doc === 'object' ? doc as PeerStatusDoc : {} as PeerStatusDoc;
  } catch {
    return {} as PeerStatusDoc;
  }
};

// A charger as the network sees it (sim-charger.ts implements it).
export interface NetEndpoint {
  readonly id: string;
  readonly index: number; // its place in the judges' lists
  readonly host: string; // host:port, what its peers join
  readonly ip: string;
  readonly generation: number; // changes at each crash and restart: its sessions die with it
  readonly station: Station | null;
  config_limit_a(): number; // the limit it holds (group_max_current x safety_factor)
}

export interface FrameSeen {
  at_ms: number;
  from: string;
  to: string;
  text: string; // as on the wire (signed frames are the signed envelope)
  opens_session: boolean; // the first frame of a session: the whole document
}

interface Session {
  from_generation: number;
  to_generation: number;
  server: Subscriber;
  client: LinkSession;
  broken: boolean;
}

export class PeerNet {
  private readonly endpoints: NetEndpoint[] = [];
  private readonly by_host = new Map<string, NetEndpoint>();
  private readonly sessions: Array<Array<Session | undefined>> = []; // [from.index][to.index]
  // Per station: the last whole document the judges parsed (publish).
  private readonly judged_doc = new WeakMap<Station, PeerStatusDoc>();
  private readonly judged_answers = new WeakMap<Station, { text: string; doc: PeerStatusDoc }>(); // poll_status
  // Sessions from chargers without load sharing (upstream firmware: plain /ws, no subscriber).
  private readonly upstream_sessions = new Map<string, { from_generation: number; to_generation: number; client: LinkSession; broken: boolean }>();
  frames_full = 0;
  frames_delta = 0;
  sessions_opened = 0;

  constructor(
    private readonly queue: EventQueue,
    private readonly network: Network,
    private readonly transport: Transport,
    private readonly judges: NetJudges,
    private readonly on_frame?: (frame: FrameSeen) => void,
  ) {}

  add(endpoint: NetEndpoint): void {
    this.endpoints.push(endpoint);
    this.by_host.set(endpoint.host, endpoint);
  }

  // A publication of `from`: frame is the station's new delta (null: nothing changed).
  publish(from: NetEndpoint, frame: string | null): void {
    const station = from.station;
    if (station === null) return;
    // The document every frame of this publication brings a receiver to, as the judges read
    // it from the wire. They read only its loadsharing block, and a frame carries that block
    // whole whenever it changed (wire.ts status_delta; the first frame is the whole document):
    // such a frame's text is parsed; while later frames do not carry the block, the one parsed
    // before still says it. Without one (a station whose first frame went out before any
    // publication here), the whole-document text a new session receives is parsed.
    const carries_block = frame !== null && frame.includes('"loadsharing":');
    if (carries_block) this.judged_doc.delete(station);
    const doc_now = () => {
      let doc = this.judged_doc.get(station);
      if (doc === undefined) {
        if (carries_block) doc = parse_doc(frame);
        // (a "loadsharing" key nested in another field is not the block)
        if (doc?.loadsharing === undefined) doc = parse_doc(station.status_text());
        this.judged_doc.set(station, doc);
      }
      return doc;
    };
    for (const to of this.endpoints) {
      if (to === from || to.station === null || !to.station.has_peer(from.host)) continue;
      if (this.transport === 'http') {
        if (frame !== null) this.poll_status(from, to);
      } else {
        this.send_frame(from, to, frame, carries_block, doc_now);
      }
    }
  }

  private send_frame(from: NetEndpoint, to: NetEndpoint, frame: string | null, carries_block: boolean, doc_now: () => PeerStatusDoc): void {
    const from_sessions = (this.sessions[from.index] ??= []);
    let session = from_sessions[to.index];
    let text = frame;
    const stale = session === undefined || session.broken || session.from_generation !== from.generation || session.to_generation !== to.generation;
    if (stale) {
      const request = to.station!.link_request(from.host, '/ws')!;
      session = {
        from_generation: from.generation, to_generation: to.generation, broken: false,
        server: from.station!.open_subscriber(request.headers, '/ws'),
        client: to.station!.open_session(request.check),
      };
      from_sessions[to.index] = session;
      this.sessions_opened++;
      text = from.station!.status_text();
    }
    if (text === null) return;
    const s = session!;
    const wire = from.station!.frame_for(s.server, text);
    if (stale) this.frames_full++; else this.frames_delta++;
    this.on_frame?.({ at_ms: this.queue.now_ms, from: from.id, to: to.id, text: wire, opens_session: stale });
    // A delta without the loadsharing block leaves the receiver with the block it took last.
    // In order, that is the sender's block now; a frame that overtook the one carrying a
    // changed block (a link that reorders) does not bring it (fuzz seed 9067908: the judge
    // counted a lowered limit told 67 ms before the receiver had it).
    const tells_block = stale || carries_block;
    this.transmit_status(from, to, doc_now(), () => this.deliver_frame(to, s, wire), () => { s.broken = true; }, tells_block);
  }

  // A status message (a /ws frame or a GET /status answer) with the judges' hooks: sent,
  // scheduled (its copies on their way), arrived (or lost); taken when a running engine of the
  // receiver took it as a member's status. doc: the sender's whole document it stands for.
  // tells_block: whether the message brings its receiver the sender's loadsharing block (the
  // limit it holds); a /ws delta without it does not.
  private transmit_status(from: NetEndpoint, to: NetEndpoint, doc: PeerStatusDoc, arrival: () => boolean, loss?: () => void, tells_block = true): void {
    const { oracle, limits } = this.judges;
    const held_a = from.config_limit_a();
    const reported_a = tells_block ? reported_limit_a(doc) : null;
    const m = oracle.sent(from.index, to.index, doc);
    const copies = this.network.send(from.id, to.id, () => {
      const taken = arrival();
      oracle.arrived(this.queue.now_ms, m, taken);
      if (taken) limits.on_delivered(this.queue.now_ms, to.index, from.index, reported_a, held_a);
    }, () => {
      loss?.();
      oracle.arrived(this.queue.now_ms, m, false);
    });
    oracle.scheduled(m, copies);
  }

  // The one place a message leaves a charger (a frame, a status answer, a request or its
  // answer): arrival runs at the receiver if it arrives, loss when and if it is lost.
  private transmit(from: NetEndpoint, to: NetEndpoint, arrival: () => void, loss?: () => void): void {
    this.network.send(from.id, to.id, arrival, loss);
  }

  // A charger without load sharing (upstream firmware, sim-charger.ts) sends its whole /status
  // document as a /ws frame to every charger that follows it. It has no station: the frame is
  // plain JSON with no loadsharing block, judged by the receivers like any peer's.
  publish_upstream(from: NetEndpoint, doc: PeerStatusDoc): void {
    const text = JSON.stringify(doc);
    for (const to of this.endpoints) {
      if (to === from || to.station === null || !to.station.has_peer(from.host)) continue;
      const key = `${from.id}>${to.id}`;
      let session = this.upstream_sessions.get(key);
      const stale = session === undefined || session.broken || session.from_generation !== from.generation || session.to_generation !== to.generation;
      if (stale) {
        const request = to.station.link_request(from.host, '/ws')!;
        session = { from_generation: from.generation, to_generation: to.generation, client: to.station.open_session(request.check), broken: false };
        this.upstream_sessions.set(key, session);
        this.sessions_opened++;
        this.frames_full++;
      } else {
        this.frames_delta++;
      }
      const s = session!;
      this.on_frame?.({ at_ms: this.queue.now_ms, from: from.id, to: to.id, text, opens_session: stale });
      this.transmit_status(from, to, doc, () => {
        if (s.broken) return false;
        if (to.station === null || to.generation !== s.to_generation) { s.broken = true; return false; }
        const result = to.station.handle_link_frame(s.client, text);
        if (result === 'refused') s.broken = true;
        return result === 'ok';
      }, () => { s.broken = true; });
    }
  }

  // Whether the receiver's running engine took it as a member's status.
  private deliver_frame(to: NetEndpoint, session: Session, wire: string): boolean {
    if (session.broken) return false; // a later frame of a session that already lost one
    if (to.station === null || to.generation !== session.to_generation) { session.broken = true; return false; }
    const result = to.station.handle_link_frame(session.client, wire);
    // Refused by the group key: the node closes the socket; the next frame reconnects.
    if (result === 'refused') session.broken = true;
    return result === 'ok';
  }

  private poll_status(from: NetEndpoint, to: NetEndpoint): void {
    const request = to.station!.link_request(from.host, '/status')!;
    const response = serve_peer(from.station!, { method: 'GET', path: '/status', headers: request.headers, body: '', remote: to.ip });
    const generation = to.generation;
    this.frames_full++;
    this.on_frame?.({ at_ms: this.queue.now_ms, from: from.id, to: to.id, text: response.text, opens_session: true });
    this.transmit_status(from, to, this.judged_answer(from.station!, response.text), () => {
      if (to.station === null || to.generation !== generation) return false;
      return to.station.handle_link_status(request.check, response) === null && to.station.has_peer(from.host);
    });
  }

  // A GET /status answer as the judges read it: its text parsed (the same text, which every
  // poller of one publication gets, is parsed once).
  private judged_answer(station: Station, text: string): PeerStatusDoc {
    const known = this.judged_answers.get(station);
    if (known !== undefined && known.text === text) return known.doc;
    const doc = parse_doc(text);
    this.judged_answers.set(station, { text, doc });
    return doc;
  }

  // The transport a charger's station sends its requests through (config sync, reciprocal
  // joins): over the virtual network to the station at that host.
  transport_for(from: NetEndpoint): PeerTransport {
    return {
      request: (request, done) => {
        const generation = from.generation;
        let answered = false;
        const finish = (result: Parameters<typeof done>[0]) => {
          if (answered) return;
          answered = true;
          if (from.generation === generation) done(result);
        };
        const timeout = this.queue.after(request.timeout_ms, () => finish({ error: 'timeout' }));
        const to = this.by_host.get(request.host);
        if (to === undefined) {
          this.queue.after(0, () => { timeout.cancelled = true; finish({ error: 'ENOTFOUND' }); });
          return;
        }
        this.transmit(from, to, () => {
          // A charger that is down: its machine answers the connection with a refusal.
          const response = to.station === null
            ? { error: 'ECONNREFUSED' as const }
            : serve_peer(to.station, { method: request.method, path: request.path, headers: request.headers, body: request.body, remote: from.ip });
          this.transmit(to, from, () => { timeout.cancelled = true; finish(response); });
        });
      },
    };
  }
}
