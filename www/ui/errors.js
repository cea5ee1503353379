// What to tell a person about a TabllmError (by err.code), and what they can
// do next: each action is { label, run } and becomes a button.

const WEBGPU_BROWSERS =
  'WebGPU is in Chrome and Edge 113+ on Windows, macOS and ChromeOS, Chrome 121+ on Android 12+, ' +
  'Safari 26 on macOS, iOS and iPadOS, and Firefox 141+ on Windows. On Linux, Chrome may need ' +
  'chrome://flags/#enable-unsafe-webgpu. A blocklisted GPU driver or a remote desktop can also turn it off.';

/** Facts from err.details as "key: value" lines (which type, which architecture…). */
function detailLines(err) {
  const entries = Object.entries(err.details ?? {}).filter(([, v]) => ['string', 'number'].includes(typeof v));
  return entries.map(([k, v]) => `${k.replaceAll('_', ' ')}: ${v}`).join('\n');
}

/**
 * @param {Error & {code?: string, details?: object}} err
 * @param {{ retry?: () => void, newChat?: () => void, loadDefault?: () => void, clearCache?: () => void,
 *           isDefault?: boolean, context?: number }} can  what the page can offer
 * @returns {{ text: string, actions: Array<{label: string, run: () => void}> }}
 */
export function explain(err, can = {}) {
  const message = err?.message ?? String(err);
  const actions = [];
  const offer = (label, run) => run && actions.push({ label, run });
  const offerDefault = () => !can.isDefault && offer('Load the default model', can.loadDefault);
  let text;
  switch (err?.code) {
    case 'webgpu_unavailable':
      text = `This browser gives the page no WebGPU, and tabllm runs the model on the GPU through WebGPU.\n${message}\n${WEBGPU_BROWSERS}`;
      break;
    case 'model_too_large':
      text = `${message}\nTry a smaller model or a smaller quantization of it (Q4_K_M or Q4_0 rather than Q8_0 or F16)` +
        `${can.context ? ', or a smaller context in the settings' : ''}.`;
      offerDefault();
      break;
    case 'download_failed':
      text = `The model could not be downloaded: ${message}\nCheck the URL and your connection; a model on another site ` +
        `must be served with CORS (Access-Control-Allow-Origin) for a page to fetch it.`;
      offer('Retry', can.retry);
      break;
    case 'unsupported_architecture':
    case 'unsupported_tensor_type': {
      const what = err.code === 'unsupported_architecture' ? 'architecture' : 'tensor type';
      const facts = detailLines(err);
      text = `tabllm cannot run this model's ${what}.\n${message}${facts ? `\n${facts}` : ''}\n` +
        (err.code === 'unsupported_architecture'
          ? 'Choose a model of a supported architecture, such as the default SmolLM2.'
          : 'Another quantization of the same model may work (Q4_K_M, Q4_0, Q6_K, Q8_0…).');
      offerDefault();
      break;
    }
    case 'invalid_model':
      text = `This is not a GGUF model tabllm can read.\n${message}`;
      offerDefault();
      break;
    case 'context_full':
      text = `${message}\nThe conversation no longer fits the model's context${can.context ? ` (${can.context} tokens)` : ''}. ` +
        'Start a new chat, or raise Context in the settings and load the model again.';
      offer('New chat', can.newChat);
      break;
    case 'device_lost':
      text = `The GPU device was lost (a driver reset, or the browser took it back).\n${message}\n` +
        'Loading the model again gets a new device in this tab; a model kept in browser storage loads from there, with no download.';
      offer('Load the model again', can.retry);
      break;
    case 'timeout':
      text = `${message}\nThe connection or the device may be stalled; try again.`;
      offer('Retry', can.retry);
      break;
    case 'unloaded':
      text = 'The model was unloaded.';
      offer('Load the model again', can.retry);
      break;
    case 'storage':
      text = `Browser storage failed: ${message}\nClearing cached models frees space.`;
      offer('Clear cached models', can.clearCache);
      offer('Retry', can.retry);
      break;
    case 'cancelled':
      text = message;
      offer('Load again', can.retry);
      break;
    case 'page_files':
      text = message;
      break;
    default:
      text = message;
      offer('Retry', can.retry);
  }
  return { text, actions };
}
