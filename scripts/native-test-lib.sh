# Sourced by scripts/arm64-check.sh, scripts/clang-check.sh and scripts/sanitize-check.sh: runs one Node-free native
# test and prints its result as one column-0 "ok   NAME  N s" or "FAIL NAME (exit N)" line, the details indented
# (tests/run.mjs counts only the column-0 lines). Sets fail=1 on a failure. A script may define
# run_native_check OUTPUT: it prints its own details (indented), and a non-zero return fails a test that exited 0
# (sanitize-check.sh: a sanitizer report).
run_native() {  # name, then the command
  local name=$1; shift
  local t0 out rc
  t0=$(date +%s)
  out=$("$@" 2>&1); rc=$?
  # An op filter that matches no case is a mistake, not a pass.
  if [ $rc -eq 0 ] && echo "$out" | grep -q "^0 passed, 0 failed"; then rc=3; out="$out
FAIL no case ran"; fi
  if declare -F run_native_check >/dev/null && ! run_native_check "$out" && [ $rc -eq 0 ]; then rc=4; fi
  echo "$out" | grep -E "FAIL|checks,|passed|failed" | tail -6 | sed 's/^/    /'
  if [ $rc -ne 0 ]; then echo "FAIL $name (exit $rc)"; fail=1; else echo "ok   $name  $(( $(date +%s) - t0 )) s"; fi
}
