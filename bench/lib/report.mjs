// The markdown report: machine, one summary table over every row (measured or pending),
// then each row's detail table. Rows bring their own lines (`summary`, `details`), so
// filling in a pending row needs no change here.

function table(columns, rows) {
  const escape = (cell) => String(cell).replace(/\|/g, '\\|');
  return [
    `| ${columns.map(escape).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

export function render_markdown(results) {
  const m = results.machine;
  const lines = [
    '# loadshare benchmarks',
    '',
    `Run ${results.generated_at}, mode ${results.mode}, module ${results.module_path}. ` +
      `Machine: ${m.cpu_model}, ${m.cpu_count} cores, ${m.memory_total_mb} MB, ${m.os}; Node ${m.node} (V8 ${m.v8}). ` +
      `Load average (1 min) ${results.load_average.start[0]} at start, ${results.load_average.end[0]} at end.`,
    '',
  ];
  const summary_rows = [];
  for (const row of Object.values(results.rows)) {
    const row_lines = row.summary?.length ? row.summary : [{ figure: row.title, value: `${row.status}: ${row.reason ?? ''}`, target: '-', result: row.status }];
    for (const line of row_lines) summary_rows.push([row.number, line.figure, line.value, line.target, line.result]);
  }
  lines.push(table(['#', 'figure', 'value: median (p10-p90)', 'target', 'result'], summary_rows), '');
  for (const row of Object.values(results.rows)) {
    if (!row.details) continue;
    // A row brings one detail table or several.
    for (const details of Array.isArray(row.details) ? row.details : [row.details]) {
      lines.push(`## ${row.number}. ${details.title}`, '');
      if (details.rows.length > 0) lines.push(table(details.columns, details.rows), '');
      for (const note of details.notes ?? []) lines.push(`- ${note}`);
      if (details.notes?.length) lines.push('');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
