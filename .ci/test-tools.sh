#!/usr/bin/env bash
# Best-effort install of the external tools some tests use. Every test that needs one
# skips with a reason when it is missing, so a failure here never hides a test failure.
set -u
prefix=${1:-.cache/npm}
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# a single-node SLURM for tests/test_slurm.py (started by the test itself, as root)
{ command -v slurmctld && command -v slurmd && command -v munged; } >/dev/null 2>&1 || need_apt+=(slurm-wlm munge)
if [ ${#need_apt[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}") \
    >/dev/null 2>&1 || echo "test-tools: could not install ${need_apt[*]} (tests that need them will skip)"
fi
if command -v npm >/dev/null 2>&1 && [ -f .ci/npm-tools.txt ] && [ ! -x "$prefix/node_modules/.bin/bids-validator" ]; then
  xargs -a .ci/npm-tools.txt npm install --silent --no-audit --no-fund --prefix "$prefix" >/dev/null 2>&1 \
    || echo "test-tools: could not install npm tools (tests that need them will skip)"
fi
exit 0
