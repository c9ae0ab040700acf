// A campaign worker thread (campaign.ts): loads the modules once, then runs the seeds it is
// handed one at a time and sends back each run's record.
import { parentPort, workerData } from 'node:worker_threads';
import { load_campaign_cores } from './fuzz.js';
import { record_seed } from './campaign.js';

const port = parentPort!;
const { policy, fuzz } = workerData as { policy: 'default' | 'naive'; fuzz: { chargers_min: number; chargers_max: number; duration_s: number } };
const cores = await load_campaign_cores();
port.on('message', (message: { seed?: number; done?: true }) => {
  if (message.done) {
    port.close();
    return;
  }
  port.postMessage({ record: record_seed(cores, message.seed!, policy, fuzz) });
});
port.postMessage({ ready: true });
