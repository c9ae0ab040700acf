// The node's own GET /openapi.json is a valid OpenAPI 3.1 document (checked by a maintained
// validator, @readme/openapi-parser, against the specification's schema and its extra rules),
// every schema in it compiles as JSON Schema 2020-12 (the dialect 3.1 uses) in Ajv's strict
// mode, and every write says who may make it. test/api-fuzz.test.ts then tests a real node
// against it.
import { describe, expect, test, beforeAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate, compileErrors } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Core } from '../host-node/core.js';
import { Charger } from '../host-node/node/charger.js';
import { build_app } from '../host-node/node/app.js';

let doc: any;
beforeAll(async () => {
  const charger = await Charger.create({ id: 'a', host: '127.0.0.1', http_port: 8001, data_dir: mkdtempSync(join(tmpdir(), 'loadshare-openapi-')), core: await Core.load(), mdns: false });
  const app = await build_app(charger);
  const r = await app.inject({ method: 'GET', url: '/openapi.json' });
  expect(r.statusCode).toBe(200);
  doc = r.json();
  await app.close();
});

const operations = () => Object.entries(doc.paths as Record<string, Record<string, any>>)
  .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));

// Every JSON Schema in the document: parameters, request bodies, responses, headers.
function schemas(): Array<{ where: string; schema: unknown }> {
  const out: Array<{ where: string; schema: unknown }> = [];
  for (const { path, method, op } of operations()) {
    for (const p of op.parameters ?? []) out.push({ where: `${method} ${path} parameter ${p.name}`, schema: p.schema });
    for (const [type, c] of Object.entries(op.requestBody?.content ?? {})) out.push({ where: `${method} ${path} body ${type}`, schema: (c as any).schema });
    for (const [code, r] of Object.entries(op.responses as Record<string, any>)) {
      for (const [type, c] of Object.entries(r.content ?? {})) out.push({ where: `${method} ${path} ${code} ${type}`, schema: (c as any).schema });
      for (const [name, h] of Object.entries(r.headers ?? {})) out.push({ where: `${method} ${path} ${code} header ${name}`, schema: (h as any).schema });
    }
  }
  return out;
}

describe('GET /openapi.json', () => {
  test('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  test('the validator can tell: the same document declared as 3.0.3 (the old one) is refused', async () => {
    // 3.0 has no type arrays ("type": ["string", "null"]) and a boolean exclusiveMinimum.
    const result = await validate({ ...structuredClone(doc), openapi: '3.0.3' });
    expect(result.valid).toBe(false);
  });

  test('every schema compiles as JSON Schema 2020-12 in strict mode', () => {
    const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, strictRequired: false, allErrors: false, validateFormats: false });
    const all = schemas();
    expect(all.length).toBeGreaterThan(40);
    for (const { where, schema } of all) {
      expect(() => ajv.compile(schema as object), where).not.toThrow();
    }
  });

  test('every write says who may make it; every refusal the write check can give is documented', () => {
    const writes = operations().filter((o) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(o.method));
    expect(writes.length).toBe(19); // 9, POST /loadsharing/pair (pairing), POST /loadsharing/alone (rule 8), and upstream's /override (3), /claims/{client} (2), /limit (2), /r and /rapi
    for (const { path, method, op } of writes) {
      expect(Array.isArray(op.security), `${method} ${path}`).toBe(true);
      if (path === '/sim/ev') { expect(op.security).toEqual([]); continue; } // the simulated car: no real charger has it
      expect(op.security.length, `${method} ${path}`).toBeGreaterThan(0);
      for (const code of ['401', '403', '429']) expect(op.responses[code], `${method} ${path} ${code}`).toBeDefined();
      for (const requirement of op.security) for (const scheme of Object.keys(requirement)) expect(doc.components.securitySchemes[scheme]).toBeDefined();
    }
    expect(doc.paths['/setup'].post.security).toEqual([{ setupCode: [] }]);
    expect(doc.paths['/config'].post.security).toEqual([{ basic: [] }, { groupKey: [] }]);
    expect(doc.paths['/loadsharing/module'].post.security).toEqual([{ basic: [] }]);
    expect(doc.paths['/loadsharing/module'].post.requestBody.content).toHaveProperty('application/octet-stream');
    for (const { op } of operations().filter((o) => o.method === 'GET')) expect(op.security).toEqual([]);
  });
});
