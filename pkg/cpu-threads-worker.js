// One extra thread of the CPU backend's pool (cpu-threads.js): its own instance
// of the kernels module on the shared memory, its own stack and thread-local
// block, then the module's worker loop until the pool quits.
import { instantiate } from './cpu-threads-instance.js';

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
    // A trap here (a panic is an abort on this target) would leave the
    // pool's barrier one short and the coordinator waiting forever: tell the
    // pool from this instance (the coordinator may be blocked in that
    // barrier, its event loop with it), so the job in flight and every
    // later one fail instead.
    try {
      kernels.pool_lose(pool, id);
    } catch {}
    console.error(`cpu-threads worker ${id}: ${e?.stack ?? e}`);
    postMessage({ error: String(e?.stack ?? e) });
  }
};
