# Set-up steps that fail with a message saying which step, why and what to do,
# instead of ending on a tool's raw output. Source it, then:
#   step "what it does" "why it may fail and what to do" command args...
#   fail "what it does" "why" "what to do"

fail() {
  printf '\n\033[1msetup step failed: %s\033[0m\n  why: %s\n' "$1" "$2" >&2
  [ -n "${3:-}" ] && printf '  what to do: %s\n' "$3" >&2
  exit 1
}

step() {
  local what=$1 why=$2
  shift 2
  if ! "$@"; then
    fail "$what" "$why (command: $*)"
  fi
}
