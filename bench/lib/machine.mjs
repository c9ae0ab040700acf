// The machine a run was measured on: every figure in a run is only comparable with figures
// from the same machine, and the load average says how busy the machine was meanwhile.
import os from 'node:os';

export function machine_info() {
  const cpus = os.cpus();
  return {
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    cpu_count: cpus.length,
    available_parallelism: os.availableParallelism(),
    memory_total_mb: Math.round(os.totalmem() / 1048576),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
  };
}

export function load_average() {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}
