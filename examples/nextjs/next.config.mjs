// Cross-origin isolation on every response (the page, its scripts, the
// bundled workers), so `?threads=N` can run tabllm's CPU backend on N
// threads: pkg/README.md, "Threads and cross-origin isolation". Without
// these headers the app still works, on one thread.
export default {
  async headers() {
    return [{
      source: '/:path*',
      headers: [
        { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
        { key: 'Cross-Origin-Embedder-Policy', value: 'require-corp' },
      ],
    }];
  },
};
