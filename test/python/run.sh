#!/usr/bin/env bash
# The Python recorder's own tests: its unittest suite (one result per test, warnings as errors, dev mode)
# on every CPython the recorder supports, then a byte-compile of the whole package.
# A version that is missing is skipped with a message here, and fails under CI=true.
# The last line is the total: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

VERSIONS=(3.11 3.12 3.13)
PACKAGE=instrument/python
passed=0
failed=0

# The interpreter of a minor version: pyenv's newest install of it, else pythonX.Y on PATH.
interpreter() {
  local minor=$1 root found
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  found=$(ls -d "$root"/versions/"$minor".* 2>/dev/null | sort -V | tail -1)
  if [ -n "$found" ] && [ -x "$found/bin/python3" ]; then echo "$found/bin/python3"; return; fi
  command -v "python$minor" 2>/dev/null
}

for minor in "${VERSIONS[@]}"; do
  py=$(interpreter "$minor")
  if [ -z "$py" ]; then
    if [ "${CI:-}" = "true" ]; then
      echo "python $minor: MISSING (CI needs it: pyenv install $minor or apt-get install python$minor)"
      failed=$((failed + 1))
    else
      echo "python $minor: not installed here, skipped (CI=true fails on it)"
    fi
    continue
  fi
  log=$(mktemp)
  "$py" -W error -X dev -m unittest discover -v -s "$PACKAGE/tests" -t "$PACKAGE" >"$log" 2>&1
  status=$?
  ok=$(grep -cE ' \.\.\. (ok|expected failure)$' "$log")
  bad=$(grep -cE ' \.\.\. (FAIL|ERROR|unexpected success)$' "$log")
  if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi # the runner itself failed (import error)
  if [ "$status" -ne 0 ]; then cat "$log"; else grep -E ' \.\.\. ' "$log"; fi
  echo "python $("$py" -c 'import platform; print(platform.python_version())'): $ok passed, $bad failed"
  passed=$((passed + ok))
  failed=$((failed + bad))
  rm -f "$log"
done

if python3 -m compileall -q "$PACKAGE" >/dev/null; then
  echo "compileall $PACKAGE: ok"
  passed=$((passed + 1))
else
  python3 -m compileall -q "$PACKAGE"
  echo "compileall $PACKAGE: FAILED"
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
