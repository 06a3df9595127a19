#!/bin/sh
# The wordpress image's entrypoint: on an empty site volume, copies WordPress (Debian's
# package, symlinks resolved) into /var/www/html and writes a wp-config.php that reads the
# database settings from the environment, with salts generated here once; then runs PHP-FPM.
# The copy goes to a temporary directory first and is moved into place, so a kill mid-copy
# leaves no half site behind.
set -eu
site=/var/www/html
if [ ! -f "$site/wp-includes/version.php" ]; then
  echo "kavling-wordpress: installing WordPress into $site" >&2
  tmp="$site/.kavling-install"
  rm -rf "$tmp"; mkdir -p "$tmp"
  cp -RL /usr/share/wordpress/. "$tmp/"
  rm -f "$tmp/wp-config.php" "$tmp/wp-config-sample.php"
  salt() { head -c 48 /dev/urandom | base64 | tr -d '\n/+='; }
  {
    echo "<?php"
    echo "// Written once by the Kavling wordpress image; the database settings come from the pod."
    for v in DB_NAME:WORDPRESS_DB_NAME DB_USER:WORDPRESS_DB_USER DB_PASSWORD:WORDPRESS_DB_PASSWORD DB_HOST:WORDPRESS_DB_HOST; do
      echo "define('${v%%:*}', getenv('${v#*:}'));"
    done
    echo "define('DB_CHARSET', 'utf8mb4');"
    echo "define('DB_COLLATE', '');"
    for k in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT; do
      echo "define('$k', '$(salt)');"
    done
    echo "\$table_prefix = 'wp_';"
    echo "// Behind the Pusat Data's ingress, which terminates TLS."
    echo "if (isset(\$_SERVER['HTTP_X_FORWARDED_PROTO']) && \$_SERVER['HTTP_X_FORWARDED_PROTO'] === 'https') { \$_SERVER['HTTPS'] = 'on'; }"
    echo "define('DISALLOW_FILE_EDIT', true);"
    echo "if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }"
    echo "require_once ABSPATH . 'wp-settings.php';"
  } >"$tmp/wp-config.php"
  # wp-includes (it holds the marker) goes last; a wp-content the tenant already has is kept.
  for f in "$tmp"/* "$tmp"/.[!.]*; do
    name=${f##*/}
    [ -e "$f" ] && [ "$name" != wp-includes ] || continue
    if [ "$name" = wp-content ] && [ -d "$site/wp-content" ]; then continue; fi
    rm -rf "${site:?}/$name"; mv "$f" "$site/"
  done
  rm -rf "${site:?}/wp-includes"; mv "$tmp/wp-includes" "$site/"
  rm -rf "$tmp"
fi
exec php-fpm8.4 -F -y /etc/php/8.4/fpm/php-fpm.conf "$@"
