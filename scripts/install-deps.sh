#!/usr/bin/env bash
# Installs what building and testing tabllm needs on a fresh Debian machine:
# Mesa's lavapipe (a CPU Vulkan driver, so wgpu runs without a GPU), Node.js
# and Chromium, Firefox and WebKit for the page and its tests, and the Python `gguf` package used
# to write dequantization references, `jinja2` for chat-template references
# and `tokenizers` for a tokenizer reference. (The wasm target and wasm-bindgen-cli
# are installed by scripts/build-web.sh; wasm32-wasip1-threads here.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/step.sh

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_apt=()
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
dpkg -s libvulkan1 >/dev/null 2>&1 || need_apt+=(libvulkan1)
dpkg -s unzip >/dev/null 2>&1 || need_apt+=(unzip)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
# Headless Chromium with WebGPU (SwiftShader) for the browser tests.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# Firefox and WebKit for tests/browser/engines.mjs: Firefox ESR (driven over
# WebDriver BiDi), WebKitGTK's WebKitWebDriver with its MiniBrowser, and the
# virtual display (xvfb-run, which needs xauth) that MiniBrowser needs.
command -v firefox-esr >/dev/null 2>&1 || need_apt+=(firefox-esr)
command -v WebKitWebDriver >/dev/null 2>&1 || need_apt+=(webkit2gtk-driver)
command -v xvfb-run >/dev/null 2>&1 || need_apt+=(xvfb)
command -v xauth >/dev/null 2>&1 || need_apt+=(xauth)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  step "update Debian's package lists" \
    "apt-get update failed; check that Debian's mirrors are reachable (and that you are root or have sudo)" \
    $SUDO apt-get update -qq
  step "install Debian packages: ${need_apt[*]}" \
    "apt-get install failed; its message is above. Install them by hand with: apt-get install ${need_apt[*]}" \
    env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

command -v cargo >/dev/null 2>&1 || fail "find Rust" "cargo is not on PATH" "install Rust with rustup (https://rustup.rs), then open a new shell"

# The threaded CPU kernels (crates/cpu-threads, scripts/build-cpu-threads.sh):
# a Tier-2 target whose std is built with atomics and links with shared memory.
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1-threads || step "add the wasm32-wasip1-threads target" \
  "rustup could not add it; check that rustup works and its server is reachable" rustup target add wasm32-wasip1-threads

pip_install() { python3 -m pip install -q "$@" 2>/dev/null || python3 -m pip install -q --break-system-packages "$@"; }
python3 -c 'import gguf' 2>/dev/null || step "install the Python gguf package (PyPI gguf==0.19.0)" \
  "pip could not install it; check that PyPI is reachable" pip_install gguf==0.19.0
# The reference renderer for chat templates (what Hugging Face's apply_chat_template uses).
python3 -c 'import jinja2, sys; sys.exit(jinja2.__version__ != "3.1.6")' 2>/dev/null || step "install the Python jinja2 package (PyPI jinja2==3.1.6)" \
  "pip could not install it; check that PyPI is reachable" pip_install jinja2==3.1.6
# The reference tokenizer for DeepSeek's byte-level BPE (Hugging Face's
# tokenizers; its huggingface_hub dependency serves only downloads, not needed).
python3 -c 'import tokenizers, sys; sys.exit(tokenizers.__version__ != "0.22.1")' 2>/dev/null || step "install the Python tokenizers package (PyPI tokenizers==0.22.1)" \
  "pip could not install it; check that PyPI is reachable" pip_install --no-deps tokenizers==0.22.1

# Vulkan loaders complain without a runtime dir; harmless, but noisy.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/tabllm-xdg}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
