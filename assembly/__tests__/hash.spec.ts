// SHA-256 against FIPS 180-4 examples, and the demand cap's hysteresis.
import { sha256 } from '../sha256';
// A message buffer with room for the in-place padding, and the digest.
const message_base: usize = memory.data(256, 16);
const digest_base: usize = memory.data(32, 16);
import { demand_cap_next } from '../demand_cap';

function digest_hex(text: string): string {
  for (let i = 0; i < text.length; i++) store<u8>(message_base + <usize>i, <u8>text.charCodeAt(i));
  sha256(message_base, text.length, digest_base);
  let hex = '';
  for (let i = 0; i < 32; i++) {
    const b = load<u8>(digest_base + <usize>i);
    hex += (b < 16 ? '0' : '') + b.toString(16);
  }
  return hex;
}

describe('sha256', () => {
  test('empty input', () => {
    expect(digest_hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
  test('"abc"', () => {
    expect(digest_hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
  test('two-block message', () => {
    expect(digest_hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))
      .toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });
});

describe('demand cap', () => {
  test('a car drawing what it is offered has no cap', () => {
    expect(demand_cap_next(16, 16, 0, 1000)).toBe(0);
  });
  test('a car drawing less is capped slowly, never below measured + headroom', () => {
    const first = demand_cap_next(32, 10, 0, 1000);
    expect(first).toBe(31.5);
    expect(demand_cap_next(32, 10, first, 60000)).toBe(12);
  });
  test('inside the hysteresis band the cap holds', () => {
    expect(demand_cap_next(32, 10.5, 12, 1000)).toBe(12);
  });
  test('a car that reaches its cap gets it released', () => {
    expect(demand_cap_next(32, 11.2, 12, 1000)).toBe(0);
  });
  test('garbage in gives no cap, never an error', () => {
    expect(demand_cap_next(NaN, 1, 1, 1)).toBe(0);
  });
});
