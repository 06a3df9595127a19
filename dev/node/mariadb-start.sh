#!/bin/sh
# The mariadb image's entrypoint. On a data volume that is not yet initialised it creates the
# system tables, the database ($MARIADB_DATABASE, default app), its user ($MARIADB_USER,
# default app) with $MARIADB_PASSWORD, and sets root's password to $MARIADB_ROOT_PASSWORD;
# then it runs mariadbd in the foreground with the given arguments.
#
# Safe to kill at any line: the marker is written last, every statement is idempotent, and a
# root that already has its password (killed after that step) is reached with it.
set -eu
datadir=/var/lib/mysql
marker="$datadir/.kavling-initialised"
db=${MARIADB_DATABASE:-app}
user=${MARIADB_USER:-app}
if [ ! -f "$marker" ]; then
  : "${MARIADB_PASSWORD:?MARIADB_PASSWORD is not set}" "${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD is not set}"
  echo "kavling-mariadb: initialising $datadir" >&2
  if [ ! -d "$datadir/mysql" ]; then
    mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal \
      --skip-name-resolve >/dev/null
  fi
  mariadbd --datadir="$datadir" --skip-networking --socket=/tmp/init.sock --pid-file=/tmp/init.pid "$@" &
  pid=$!
  i=0
  until mariadb-admin --socket=/tmp/init.sock -uroot ping >/dev/null 2>&1 \
     || MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb-admin --socket=/tmp/init.sock -uroot ping >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 120 ] || { echo "kavling-mariadb: server did not start" >&2; exit 1; }
    sleep 0.5
  done
  sql="CREATE DATABASE IF NOT EXISTS \`$db\`;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$MARIADB_PASSWORD';
ALTER USER '$user'@'%' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL ON \`$db\`.* TO '$user'@'%';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$MARIADB_ROOT_PASSWORD';"
  echo "$sql" | mariadb --socket=/tmp/init.sock -uroot 2>/dev/null \
    || echo "$sql" | MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb --socket=/tmp/init.sock -uroot
  kill "$pid"; wait "$pid" || true
  touch "$marker"
  echo "kavling-mariadb: database '$db' and user '$user' ready" >&2
fi
# the socket and pid file in /tmp: the image's /run is not the server's to write
exec mariadbd --datadir="$datadir" --bind-address=0.0.0.0 --skip-name-resolve \
  --socket=/tmp/mysqld.sock --pid-file=/tmp/mysqld.pid "$@"
