#!/usr/bin/env bash
# Makes sure a MariaDB answers on 127.0.0.1:3306 as root without a password (the tests'
# database). If none answers it installs MariaDB from Debian's packages when missing and
# starts one on a throwaway data directory. Idempotent: does nothing when one is running.
set -euo pipefail
ping() { mariadb-admin --protocol=TCP -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }
if command -v mariadb-admin >/dev/null 2>&1 && ping; then
  exit 0
fi
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  echo "mariadb.sh: installing mariadb-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq mariadb-server mariadb-client >/dev/null
fi
if ping; then exit 0; fi
dir="${MARIADB_DIR:-/tmp/logwise-mariadb}"
mkdir -p "$dir"
if [ ! -d "$dir/data/mysql" ]; then
  mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal >/dev/null
fi
user_opt=""; [ "$(id -u)" -eq 0 ] && user_opt="--user=root"
start-stop-daemon --start --background --pidfile "$dir/mariadb.pid" --exec /usr/sbin/mariadbd -- \
  --no-defaults --datadir="$dir/data" --bind-address=127.0.0.1 --port=3306 --socket="$dir/mariadb.sock" \
  --pid-file="$dir/mariadb.pid" --skip-name-resolve --max-connections=500 $user_opt
for _ in $(seq 1 60); do
  if ping; then echo "mariadb.sh: MariaDB is up on 127.0.0.1:3306" >&2; exit 0; fi
  sleep 0.5
done
echo "mariadb.sh: MariaDB did not start; see $dir/data/*.err" >&2
exit 1
