// Signed module packages (docs/hot-swap.md): the .wasm plus a manifest, signed with ECDSA
// P-256 over SHA-256, in one binary file both Node crypto and mbedTLS can check.
//
//   "LSPK" | u8 format (1) | u8 0 | u16 manifest_len | manifest | u16 signature_len |
//   signature (DER) | u32 module_len | module          (integers little-endian)
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ABI_VERSION } from '../abi.js';

export const package_magic = 'LSPK';
export const package_format = 1;
export const package_bytes_max = 256 * 1024;
const manifest_bytes_max = 1024;

export interface Manifest {
  abi_version: number;
  module_sha256: string;
  module_size: number;
  counter: number;
  version: string;
  policy: string;
}

export interface ParsedPackage {
  manifest: Manifest;
  manifest_bytes: Uint8Array;
  signature: Uint8Array;
  module: Uint8Array;
}

// A refusal with a stable code: malformed, manifest, signature, hash, downgrade, abi,
// module, self_test.
export class PackageError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export function sha256_hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function manifest_text(m: Manifest): string {
  return [
    'loadshare-module-v1',
    `abi_version=${m.abi_version}`,
    `module_sha256=${m.module_sha256}`,
    `module_size=${m.module_size}`,
    `counter=${m.counter}`,
    `version=${m.version}`,
    `policy=${m.policy}`,
    '',
  ].join('\n');
}

const text_value = /^[\x21-\x7e]{1,64}$/;

export function parse_manifest(bytes: Uint8Array): Manifest {
  const text = Buffer.from(bytes).toString('latin1');
  const lines = text.split('\n');
  if (lines[0] !== 'loadshare-module-v1' || lines[lines.length - 1] !== '') {
    throw new PackageError('manifest', 'manifest: not a loadshare-module-v1 manifest');
  }
  const fields = new Map<string, string>();
  for (const line of lines.slice(1, -1)) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new PackageError('manifest', `manifest: malformed line "${line.slice(0, 40)}"`);
    fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const integer = (key: string, min: number) => {
    const v = fields.get(key);
    if (v === undefined || !/^\d{1,15}$/.test(v) || Number(v) < min) throw new PackageError('manifest', `manifest: ${key} must be an integer >= ${min}`);
    return Number(v);
  };
  const text_field = (key: string) => {
    const v = fields.get(key);
    if (v === undefined || !text_value.test(v)) throw new PackageError('manifest', `manifest: ${key} must be 1..64 printable characters`);
    return v;
  };
  const hash = fields.get('module_sha256');
  if (hash === undefined || !/^[0-9a-f]{64}$/.test(hash)) throw new PackageError('manifest', 'manifest: module_sha256 must be 64 lowercase hex digits');
  const manifest: Manifest = {
    abi_version: integer('abi_version', 1),
    module_sha256: hash,
    module_size: integer('module_size', 1),
    counter: integer('counter', 1),
    version: text_field('version'),
    policy: text_field('policy'),
  };
  if (manifest_text(manifest) !== text) throw new PackageError('manifest', 'manifest: fields out of order, repeated or unknown');
  return manifest;
}

export function pack(module: Uint8Array, fields: { counter: number; version: string; policy: string }, private_key: KeyObject): Uint8Array {
  const manifest: Manifest = { abi_version: ABI_VERSION, module_sha256: sha256_hex(module), module_size: module.length, ...fields };
  return pack_manifest(manifest, module, private_key);
}

// Packs a module under any manifest (tests use it to build packages a host must refuse).
export function pack_manifest(manifest: Manifest, module: Uint8Array, private_key: KeyObject): Uint8Array {
  const manifest_bytes = Buffer.from(manifest_text(manifest), 'latin1');
  parse_manifest(manifest_bytes); // the same rules as a receiver
  const signature = sign('sha256', manifest_bytes, { key: private_key, dsaEncoding: 'der' });
  const out = Buffer.alloc(8 + manifest_bytes.length + 2 + signature.length + 4 + module.length);
  let at = 0;
  out.write(package_magic, at, 'latin1'); at += 4;
  out.writeUInt8(package_format, at); at += 2;
  out.writeUInt16LE(manifest_bytes.length, at); at += 2;
  manifest_bytes.copy(out, at); at += manifest_bytes.length;
  out.writeUInt16LE(signature.length, at); at += 2;
  signature.copy(out, at); at += signature.length;
  out.writeUInt32LE(module.length, at); at += 4;
  out.set(module, at);
  return out;
}

export function parse_package(bytes: Uint8Array): ParsedPackage {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const malformed = (why: string) => new PackageError('malformed', `package: ${why}`);
  if (b.length > package_bytes_max) throw malformed(`larger than ${package_bytes_max} bytes`);
  if (b.length < 8 || b.toString('latin1', 0, 4) !== package_magic) throw malformed('not a loadshare module package (magic)');
  if (b.readUInt8(4) !== package_format) throw malformed(`format ${b.readUInt8(4)} is not ${package_format}`);
  if (b.readUInt8(5) !== 0) throw malformed('header byte 5 must be 0');
  let at = 6;
  const manifest_len = b.readUInt16LE(at); at += 2;
  if (manifest_len > manifest_bytes_max || at + manifest_len + 2 > b.length) throw malformed('truncated manifest');
  const manifest_bytes = new Uint8Array(b.subarray(at, at + manifest_len)); at += manifest_len;
  const signature_len = b.readUInt16LE(at); at += 2;
  if (signature_len > 80 || at + signature_len + 4 > b.length) throw malformed('truncated signature');
  const signature = new Uint8Array(b.subarray(at, at + signature_len)); at += signature_len;
  const module_len = b.readUInt32LE(at); at += 4;
  if (at + module_len !== b.length) throw malformed(at + module_len > b.length ? 'truncated module' : 'trailing bytes after the module');
  const module = new Uint8Array(b.subarray(at, at + module_len));
  return { manifest: parse_manifest(manifest_bytes), manifest_bytes, signature, module };
}

// Signature, hash and ABI version; the counter and the module itself are checked by the
// installer, which knows the active counter and can instantiate.
export function verify_package(bytes: Uint8Array, trusted_keys: KeyObject[]): ParsedPackage {
  const p = parse_package(bytes);
  const signed = trusted_keys.some((key) => {
    try {
      return verify('sha256', p.manifest_bytes, { key, dsaEncoding: 'der' }, p.signature);
    } catch {
      return false;
    }
  });
  if (!signed) throw new PackageError('signature', 'signature: not signed by a trusted key, or the manifest was altered');
  if (p.module.length !== p.manifest.module_size || sha256_hex(p.module) !== p.manifest.module_sha256) {
    throw new PackageError('hash', 'hash: the module bytes do not match the signed manifest');
  }
  if (p.manifest.abi_version !== ABI_VERSION) {
    throw new PackageError('abi', `abi: package is for ABI ${p.manifest.abi_version}, this host speaks ${ABI_VERSION}`);
  }
  return p;
}

export function generate_keys(): { private_pem: string; public_pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    private_pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public_pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function load_private_key(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PackageError('key', 'key: not an ECDSA P-256 private key');
  }
  return key;
}

export function load_public_key(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PackageError('key', 'key: not an ECDSA P-256 public key');
  }
  return key;
}
