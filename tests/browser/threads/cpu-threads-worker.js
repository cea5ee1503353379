// One extra thread of a cpu-threads pool (cpu-threads.js): its own instance
// of the kernels module on the shared memory, its own stack and thread-local
// block, then the module's worker loop until the pool quits.
import { instantiate } from './cpu-threads.js';

onmessage = ({ data: { module, memory, pool, id, stackTop, tls } }) => {
  let kernels;
  try {
    kernels = instantiate(module, memory, { stackTop, tls });
  } catch (e) {
    postMessage({ error: String(e?.stack ?? e) });
    return;
  }
  postMessage({ ready: true });
  try {
    kernels.worker_run(pool, id);
    postMessage({ exited: true });
  } catch (e) {
    // A trap here (a panic is an abort on this target) leaves the pool's
    // barrier one short: the coordinator would wait forever. The spike
    // reports it (here too: the coordinator's event loop may be blocked in
    // that barrier); the integration must fail the engine instead.
    console.error(`cpu-threads worker ${id}: ${e?.stack ?? e}`);
    postMessage({ error: String(e?.stack ?? e) });
  }
};
