#!/usr/bin/env bash
# Makes sure the stand-ins the test suite needs are here: MariaDB on 127.0.0.1:3306 (installed
# and started by scripts/mariadb.sh), moto_server (an AWS API emulator; it ships with this kind
# of machine's image), and the SAM translator beside cfn-lint. A missing one is installed where
# a package registry has it; what still misses is named here, and the tests that need it fail
# under CI=true (they skip elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/mariadb.sh
if ! command -v moto_server >/dev/null 2>&1; then
  echo "standins.sh: moto_server is missing; trying pip" >&2
  python3 -m pip install --quiet 'moto[server]==5.2.1' >&2 || true
  command -v moto_server >/dev/null 2>&1 ||
    echo "standins.sh: moto_server is still missing: install moto[server] 5.2.1 (Python) so that moto_server is on PATH" >&2
fi
if ! python3 -c 'import samtranslator' >/dev/null 2>&1; then
  echo "standins.sh: the SAM translator (python module samtranslator) is missing; trying pip" >&2
  python3 -m pip install --quiet 'aws-sam-translator==1.110.0' 'cfn-lint==1.51.0' >&2 || true
fi
