// `loadshare rapi-sim`: the RAPI controller simulator (rapi-sim.ts) on TCP, to try
// `loadshare node --controller rapi:tcp://IP:PORT` without hardware. Lines on stdin change
// the simulated car and the controller's behaviour.
import { createInterface } from 'node:readline';
import { RapiControllerSim } from './rapi-sim.js';
import { UsageError } from '../usage-error.js';

export async function run_rapi_sim(host: string, port: number, max_current_a: number): Promise<void> {
  const sim = new RapiControllerSim({ max_current_a });
  let bound: number;
  try {
    bound = await sim.listen(host, port);
  } catch (error) {
    throw new UsageError(`cannot listen on ${host}:${port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const show = () => {
    const s = sim.supervision();
    return `state ${sim.state_code()}, capacity ${sim.capacity()} A, pilot ${sim.pilot_a()} A, car draws ${sim.current_a().toFixed(1)} A; supervision ${s.interval_s} s -> ${s.current_a} A (trigger ${s.trigger}); ${sim.stats.pulses} pulses, ${sim.stats.commands} commands`;
  };
  process.stdout.write(`rapi-sim listening on tcp://${host}:${bound} (loadshare node --controller rapi:tcp://${host}:${bound})\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = line.trim();
    if (command === 'plug') sim.set_car({ connected: true });
    else if (command === 'unplug') sim.set_car({ connected: false });
    else if (command === 'silent') sim.faults.silent = true;
    else if (command === 'answer') sim.faults.silent = false;
    else if (command === 'reboot') sim.reboot();
    else if (command !== 'status' && command !== '') { process.stdout.write('commands: plug, unplug, silent, answer, reboot, status\n'); return; }
    process.stdout.write(`${show()}\n`);
  });
  await new Promise<void>((resolve) => {
    const stop = () => { lines.close(); void sim.close().then(resolve); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
