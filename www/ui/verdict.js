// "Will it run here?" in a few words, for a row of inspectCatalog's table
// (pkg/tabllm.d.ts CatalogRow) sized against its DeviceBudget: shared by the
// bench page's catalog and the chat page's model menu.

/** Gigabytes (10^9 bytes), two decimals: "1.27". */
export const GB = (b) => (b / 1e9).toFixed(2);
const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);

/** The memory limit a CPU-backend row ran into, in a few words. */
function memoryLimitName(d) {
  if (d.backend !== 'cpu') return 'the memory given';
  return d.memory_source.startsWith('the CPU backend') ? '32-bit wasm (CPU backend)' : "this device's RAM";
}

/** `[class, short verdict, why]` of catalog row `r` on device `d`
 * (CatalogTable.device); class is `fits`, `fits_smaller_context`,
 * `does_not_fit` or `unsupported`. The engine's whole reason is `r.reason`. */
export function verdictOf(r, d) {
  if (!r.supported) return ['unsupported', 'not supported', `tabllm does not run ${r.architecture} models yet`];
  if (r.fits === 'fits') return ['fits', 'fits', d.memory_bytes === null ? 'within the buffer limits (GPU memory size unknown)' : `${GB(r.total_bytes)} of ${GB(d.memory_bytes)} GB`];
  if (r.fits === 'fits_smaller_context') return ['fits_smaller_context', 'shorter context', `fits up to ${r.max_context_that_fits.toLocaleString('en-US')} tokens`];
  if (d.memory_bytes !== null && r.total_bytes > d.memory_bytes) {
    return ['does_not_fit', 'too large', `needs ${GB(r.total_bytes)} GB; ${memoryLimitName(d)} allows ${GB(d.memory_bytes)}. Try a smaller mix${r.weight_bytes < d.memory_bytes ? ' or a shorter context' : ''}.`];
  }
  return ['does_not_fit', 'too large', `${capital(r.reason)}. Try a smaller mix.`];
}
