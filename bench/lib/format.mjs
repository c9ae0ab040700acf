// How figures read in the markdown table: a median followed by its p10-p90 spread.

function number(value) {
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function median_spread(summary, unit = '') {
  return `${number(summary.median)}${unit} (${number(summary.p10)}-${number(summary.p90)})`;
}

export function ratio(value) {
  return `${value.toFixed(2)}x`;
}

export { number as format_number };
