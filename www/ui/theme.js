// Colour theme: follow the system (prefers-color-scheme), or light, or dark,
// chosen with the #theme button and remembered. A classic script in <head> so
// the stored choice applies before the first paint.
(() => {
  const KEY = 'tabllm.theme';
  const modes = ['system', 'light', 'dark'];
  const labels = { system: 'Colours: follow the system', light: 'Colours: light', dark: 'Colours: dark' };
  const icons = { system: '◐', light: '☀', dark: '☾' };
  let mode = 'system';
  try {
    mode = modes.includes(localStorage.getItem(KEY)) ? localStorage.getItem(KEY) : 'system';
  } catch {
    // storage blocked: follow the system
  }
  const apply = () => {
    if (mode === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = mode;
    const button = document.getElementById('theme');
    if (button) {
      button.textContent = icons[mode];
      button.title = labels[mode];
      button.setAttribute('aria-label', labels[mode]);
    }
  };
  apply();
  document.addEventListener('DOMContentLoaded', () => {
    apply();
    document.getElementById('theme').addEventListener('click', () => {
      mode = modes[(modes.indexOf(mode) + 1) % modes.length];
      try {
        localStorage.setItem(KEY, mode);
      } catch {
        // not remembered
      }
      apply();
    });
  });
})();
