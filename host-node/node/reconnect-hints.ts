// A peer that connects to our /ws names itself in `x-loadshare-host`, so that our own link to
// it retries now instead of after its backoff (both links come up together after a restart).
// Taken on trust, the header would let anyone on the LAN make a charger reconnect to a peer
// as fast as they can send upgrades. So: with a group key, a hint counts only on a handshake
// signed with the key (peer-auth.ts; nonce-checked, so it cannot be replayed); without one, at
// most one hint per peer per `min_interval_ms` (the backoff's first step is 1 s; a peer that
// really restarted is heard within that anyway). Anything else is ignored, never an error.
export class ReconnectHints {
  private readonly last_ms = new Map<string, number>();

  constructor(private readonly now_ms: () => number, readonly min_interval_ms = 10000, private readonly max_hosts = 256) {}

  accept(host: string, keyed: boolean, signed: boolean): boolean {
    if (keyed) return signed;
    const now_ms = this.now_ms();
    const last_ms = this.last_ms.get(host);
    if (last_ms !== undefined && now_ms - last_ms < this.min_interval_ms) return false;
    this.last_ms.delete(host);
    this.last_ms.set(host, now_ms);
    if (this.last_ms.size > this.max_hosts) this.last_ms.delete(this.last_ms.keys().next().value as string);
    return true;
  }
}
