// mDNS: advertise this charger as _openevse._tcp and _http._tcp (TXT id, type, version) and
// browse for other OpenEVSE devices on a background timer and on demand. Results are cached
// with a TTL and deduplicated by hostname (the mDNS instance name); our own records are ignored.
import { createRequire } from 'node:module';
import type { Bonjour, Service, Browser } from 'bonjour-service';
import type { Logger } from './log.js';

export interface DiscoveredPeer {
  name: string; // mDNS instance name = the peer's hostname
  id: string | null;
  host: string; // ip:port to reach it
  ip: string;
  port: number;
  version: string | null;
  seen_at_ms: number;
}

export interface DiscoveryOptions {
  id: string;
  hostname: string;
  port: number;
  version: string;
  log: Logger;
  interval_ms?: number; // background browse period, default 60 s
  ttl_ms?: number; // how long a result stays without being seen again, default 3 periods
  browse_ms?: number; // how long one scan listens, default 2 s
  now_ms?: () => number;
}

export class Discovery {
  private bonjour: Bonjour | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly cache = new Map<string, DiscoveredPeer>();
  private scanning: Promise<void> | null = null;
  private readonly interval_ms: number;
  private readonly ttl_ms: number;
  private readonly browse_ms: number;
  private readonly now_ms: () => number;

  constructor(private readonly options: DiscoveryOptions) {
    this.interval_ms = options.interval_ms ?? 60000;
    this.ttl_ms = options.ttl_ms ?? 3 * this.interval_ms;
    this.browse_ms = options.browse_ms ?? 2000;
    this.now_ms = options.now_ms ?? Date.now;
  }

  start(): void {
    // Loaded here, not at import: the mDNS stack (bonjour-service, multicast-dns, dns-packet)
    // is resident memory a node started with --no-mdns never uses (docs/performance.md).
    const { Bonjour: BonjourClass } = createRequire(import.meta.url)('bonjour-service') as typeof import('bonjour-service');
    this.bonjour = new BonjourClass({}, (error: Error) => this.options.log.warn('mdns', `mDNS error: ${error.message}`));
    const txt = { id: this.options.id, type: 'openevse', version: this.options.version };
    const publish = (type: string) => {
      const service = this.bonjour!.publish({ name: this.options.hostname, type, port: this.options.port, txt, disableIPv6: true });
      service.on('error', (error: Error) => this.options.log.warn('mdns', `advertising _${type}._tcp failed: ${error.message}`));
    };
    publish('openevse');
    publish('http');
    this.options.log.info('mdns', `advertising ${this.options.hostname} (_openevse._tcp, _http._tcp) on port ${this.options.port}`);
    void this.scan();
    this.timer = setInterval(() => void this.scan(), this.interval_ms);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const bonjour = this.bonjour;
    this.bonjour = null;
    if (!bonjour) return;
    // Goodbye packets, then close the socket; bounded so shutdown never hangs on the network.
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, 1000);
      bonjour.unpublishAll(() => bonjour.destroy(() => { clearTimeout(done); resolve(); }));
    });
  }

  // One browse; concurrent callers share the scan in progress.
  scan(): Promise<void> {
    if (!this.bonjour) return Promise.resolve();
    if (!this.scanning) {
      this.scanning = new Promise<void>((resolve) => {
        let browser: Browser | null = null;
        try {
          browser = this.bonjour!.find({ type: 'openevse' }, (service) => this.record(service));
        } catch (error) {
          this.options.log.warn('mdns', `browse failed: ${(error as Error).message}`);
          resolve();
          return;
        }
        // Re-query once mid-scan: a single query can be lost on a busy link.
        const again = setTimeout(() => browser?.update(), this.browse_ms / 2);
        setTimeout(() => {
          clearTimeout(again);
          browser?.stop();
          resolve();
        }, this.browse_ms);
      }).finally(() => { this.scanning = null; });
    }
    return this.scanning;
  }

  found(): DiscoveredPeer[] {
    const now_ms = this.now_ms();
    for (const [name, peer] of this.cache) if (now_ms - peer.seen_at_ms > this.ttl_ms) this.cache.delete(name);
    return [...this.cache.values()];
  }

  private record(service: Service): void {
    const txt = (service.txt ?? {}) as Record<string, unknown>;
    const id = typeof txt.id === 'string' ? txt.id : null;
    if (service.name === this.options.hostname || id === this.options.id) return; // ourselves
    const ip = (service.addresses ?? []).find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) ?? service.referer?.address ?? null;
    if (!ip) return;
    const known = this.cache.has(service.name);
    const peer: DiscoveredPeer = {
      name: service.name,
      id,
      host: `${ip}:${service.port}`,
      ip,
      port: service.port,
      version: typeof txt.version === 'string' ? txt.version : null,
      seen_at_ms: this.now_ms(),
    };
    this.cache.set(service.name, peer); // dedupe by hostname: the newest answer wins
    if (!known) this.options.log.info('mdns', `discovered ${peer.name} (id ${peer.id ?? '?'}) at ${peer.host}`);
  }
}
