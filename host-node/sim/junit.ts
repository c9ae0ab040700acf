// JUnit XML for CI: one test suite per run, one test case per check.
import type { RunResult } from './world.js';

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function junit_xml(results: RunResult[]): string {
  const suites = results.map((r) => {
    const cases: Array<{ name: string; failures: string[] }> = [
      { name: 'INV-1', failures: r.failures.filter((f) => f.startsWith('INV-1')) },
      { name: 'permission', failures: r.failures.filter((f) => f.startsWith('permission')) },
      { name: 'expectations', failures: r.failures.filter((f) => !f.startsWith('INV-1') && !f.startsWith('permission')) },
    ];
    // A run that broke the protocol's assumptions judges neither INV-1 nor permission: those
    // cases are skipped, with what was measured.
    const skipped = r.assumption_violated.length > 0
      ? (name: string) => (name === 'expectations' ? null : `assumption violated: ${r.assumption_violated.join('; ')}${r.beyond_assumptions.length ? ` | measured: ${r.beyond_assumptions.join('; ')}` : ''}`)
      : () => null;
    const body = cases.map((c) => {
      const skip = skipped(c.name);
      const inner = skip !== null ? `\n      <skipped message="${xml(skip)}"/>\n    `
        : c.failures.length ? `\n      <failure message="${xml(c.failures[0])}">${xml(c.failures.join('\n'))}</failure>\n    ` : '';
      return `    <testcase classname="${xml(r.name)}" name="${c.name} (${r.policy}, seed ${r.seed})">${inner}</testcase>`;
    }).join('\n');
    const failed = cases.filter((c) => c.failures.length > 0 && skipped(c.name) === null).length;
    return `  <testsuite name="${xml(r.name)} [${r.policy}]" tests="${cases.length}" failures="${failed}" time="${(r.wall_ms / 1000).toFixed(3)}">\n${body}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${suites.join('\n')}\n</testsuites>\n`;
}
