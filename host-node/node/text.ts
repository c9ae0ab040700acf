// Strict text in request bodies: the bytes must be valid UTF-8 (Node's decoder would silently
// turn bad bytes into U+FFFD, so a name could be stored other than it was sent), and no string
// may hold a lone surrogate (a JSON escape such as "\ud800" is valid JSON but no UTF-8 text
// can carry it; the ESP32 firmware stores these fields as UTF-8 C strings). NUL is refused by
// the schemas (config.ts no_nul_pattern), which name the field.
import { isUtf8 } from 'node:buffer';

// A high surrogate not followed by a low one, or a low one not preceded by a high one
// (code units: no 'u' flag).
const lone_surrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function well_formed(text: string): boolean {
  return !lone_surrogate.test(text);
}

export class TextError extends Error {
  readonly statusCode = 400;
}

export function decode_utf8_strict(bytes: Buffer): string {
  if (!isUtf8(bytes)) throw new TextError('Invalid UTF-8 in the request body');
  return bytes.toString('utf8');
}

// The path of the first string (or key) that is not well-formed Unicode, or null.
export function find_ill_formed(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return well_formed(value) ? null : (path || 'body');
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = find_ill_formed(value[i], `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if (!well_formed(key)) return path || 'body';
      const found = find_ill_formed(inner, path === '' ? key : `${path}.${key}`);
      if (found !== null) return found;
    }
  }
  return null;
}

// Throws TextError naming the field when the parsed body carries ill-formed text.
export function check_text(value: unknown): void {
  const where = find_ill_formed(value);
  if (where !== null) throw new TextError(`${where} is not valid Unicode text (a lone surrogate cannot be stored as UTF-8)`);
}
