// No import circles in the host code or the page's logic: every relative import (static,
// dynamic, type-only) of host-node/ and ui/src/lib/ forms a graph without a cycle, so each
// module can be read, tested and replaced from the bottom up.
import { describe, expect, test } from 'vitest';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = join(__dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.ts$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

// Relative specifiers of `import ... from`, `export ... from` and `import(...)`.
function relative_imports(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*'(\.[^']+)'/g)) found.push(m[1]);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*'(\.[^']+)'/g)) found.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)) found.push(m[1]);
  return found;
}

function resolve_ts(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, base]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

// Tarjan's strongly connected components; every component of two or more files (or a file
// importing itself) is a circle.
function circles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on_stack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter); low.set(v, counter); counter++;
    stack.push(v); on_stack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on_stack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do { w = stack.pop()!; on_stack.delete(w); component.push(w); } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.map((f) => relative(root, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

function import_graph(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap((d) => sources(join(root, d)))) {
    const deps = relative_imports(readFileSync(file, 'utf8')).map((spec) => resolve_ts(file, spec)).filter((x): x is string => x !== null);
    graph.set(file, deps);
  }
  return graph;
}

describe('import graph', () => {
  test('the scanner sees static, dynamic and type-only imports', () => {
    const text = "import { a } from './a.js';\nimport type { B } from '../b.js';\nexport { c } from './c.js';\nconst d = await import('./d.js');\nimport 'node:fs';";
    expect(relative_imports(text)).toEqual(['./a.js', '../b.js', './c.js', './d.js']);
  });

  test('a circle is found when there is one', () => {
    const g = new Map([['/x/a.ts', ['/x/b.ts']], ['/x/b.ts', ['/x/a.ts']], ['/x/c.ts', ['/x/a.ts']]]);
    expect(circles(g).length).toBe(1);
  });

  test('host-node/ and ui/src/lib/ have no import circles', () => {
    const graph = import_graph(['host-node', 'ui/src/lib']);
    expect(graph.size).toBeGreaterThan(50);
    expect(circles(graph)).toEqual([]);
  });
});
