// Strict JSON input files (scenarios, simulation scenarios): one sentence per refusal, naming
// the field the way a user wrote it (`members.0.id`).
import type { ErrorObject } from 'ajv';

// Parses JSON or returns the sentence that says why it is not.
export function parse_json(text: string): { ok: true; data: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, data: JSON.parse(text) };
  } catch (error) {
    return { ok: false, message: `malformed JSON: ${(error as Error).message}` };
  }
}

// The first schema error as one sentence. id_fields: which paths hold member ids.
export function describe_schema_error(error: ErrorObject, id_fields: RegExp): string {
  const where = error.instancePath ? error.instancePath.slice(1).replace(/\//g, '.') : 'scenario';
  if (error.keyword === 'additionalProperties') {
    return `${where}: unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
  }
  if (error.keyword === 'required') return `${where}: missing field "${(error.params as { missingProperty: string }).missingProperty}"`;
  if (error.keyword === 'enum') return `${where}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (error.keyword === 'pattern' && id_fields.test(where)) return `${where}: an id is 1..32 printable ASCII characters without spaces or commas`;
  return `${where}: ${error.message}`;
}
