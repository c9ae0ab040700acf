// SHA-256 (FIPS 180-4) over bytes in linear memory, without allocation: the config hash must
// be the same on every host, so the core computes it itself.
const k_table: usize = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const state: usize = memory.data(32, 16);     // u32 h0..h7
const schedule: usize = memory.data(256, 16); // u32 w[64]

function k_at(t: i32): u32 { return load<u32>(k_table + <usize>(t * 4)); }
function w_at(t: i32): u32 { return load<u32>(schedule + <usize>(t * 4)); }
function h_at(t: i32): u32 { return load<u32>(state + <usize>(t * 4)); }

function compress(block: usize): void {
  for (let t = 0; t < 16; t++) store<u32>(schedule + <usize>(t * 4), bswap<u32>(load<u32>(block + <usize>(t * 4))));
  for (let t = 16; t < 64; t++) {
    const w15 = w_at(t - 15);
    const w2 = w_at(t - 2);
    const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3);
    const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10);
    store<u32>(schedule + <usize>(t * 4), w_at(t - 16) + s0 + w_at(t - 7) + s1);
  }
  let a = h_at(0), b = h_at(1), c = h_at(2), d = h_at(3);
  let e = h_at(4), f = h_at(5), g = h_at(6), h = h_at(7);
  for (let t = 0; t < 64; t++) {
    const s1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25);
    const choice = (e & f) ^ (~e & g);
    const t1 = h + s1 + choice + k_at(t) + w_at(t);
    const s0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22);
    const majority = (a & b) ^ (a & c) ^ (b & c);
    const t2 = s0 + majority;
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  store<u32>(state, h_at(0) + a); store<u32>(state + 4, h_at(1) + b);
  store<u32>(state + 8, h_at(2) + c); store<u32>(state + 12, h_at(3) + d);
  store<u32>(state + 16, h_at(4) + e); store<u32>(state + 20, h_at(5) + f);
  store<u32>(state + 24, h_at(6) + g); store<u32>(state + 28, h_at(7) + h);
}

// Hashes len bytes at source into 32 bytes at digest, padding in place: the caller's buffer
// must have room for 72 bytes after the message (the canonical buffer does: its text is far
// shorter than canonical_bytes_max). Bounded by the caller's length.
export function sha256(source: usize, len: i32, digest: usize): void {
  store<u32>(state, 0x6a09e667); store<u32>(state + 4, 0xbb67ae85);
  store<u32>(state + 8, 0x3c6ef372); store<u32>(state + 12, 0xa54ff53a);
  store<u32>(state + 16, 0x510e527f); store<u32>(state + 20, 0x9b05688c);
  store<u32>(state + 24, 0x1f83d9ab); store<u32>(state + 28, 0x5be0cd19);
  const blocks = (len + 72) >> 6; // message + 0x80 + 8 length bytes, rounded up to blocks
  memory.fill(source + <usize>len, 0, <usize>(blocks * 64 - len));
  store<u8>(source + <usize>len, 0x80);
  store<u64>(source + <usize>(blocks * 64 - 8), bswap<u64>(<u64>len << 3));
  for (let b = 0; b < blocks; b++) compress(source + <usize>(b * 64));
  for (let t = 0; t < 8; t++) store<u32>(digest + <usize>(t * 4), bswap<u32>(h_at(t)));
}
