#!/usr/bin/env bash
# The Pusat Data's container images, built here from Debian packages (no registry is reachable):
#
#   dev/images.sh build [ROLE...]        build (or find in the cache) the catalog's images
#   dev/images.sh push REGISTRY [ROLE...] copy them into REGISTRY (e.g. 127.0.0.1:17500)
#   dev/images.sh sbom ROLE              the Debian packages inside ROLE's image
#   dev/images.sh ref ROLE               ROLE's name:tag in the catalog
#   dev/images.sh kavling REGISTRY [BIN_DIR]  Kavling's own image (kavling-operator, kavling-dns,
#                                        kavling) from built binaries; prints the pushed reference
#
# The catalog is templates/images.yaml (role → name and tag). Each role has a recipe below;
# an image is cached under $KAVLING_CACHE/images/<name>-<tag>-<key> where key hashes the
# recipe, so changing a recipe rebuilds exactly that image. Every image runs as a non-root uid.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KAVLING_CACHE:-$HOME/.cache/kavling}"
IMAGES="$CACHE/images"
CATALOG="$REPO/templates/images.yaml"
# Debian releases the images come from (with their security updates): the web server stays on
# bookworm; PHP and MariaDB come from trixie (PHP 8.4, supported to 2028; MariaDB 11.8 LTS).
SUITE=bookworm
APP_SUITE=trixie
# Fixed file times inside every image, so the same packages give the same layer digest.
export SOURCE_DATE_EPOCH=1735689600

say()  { printf '\033[1m[images]\033[0m %s\n' "$*" >&2; }
die()  { printf '\033[31m[images] error:\033[0m %s\n' "$*" >&2; exit 1; }

roles() { sed -n 's/^\([a-z][a-z0-9-]*\): .*/\1/p' "$CATALOG"; }
field() { # field ROLE name|tag
  sed -n "s/^$1: .*$2: \"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" "$CATALOG" | head -n1
}

# mmdebstrap_rootfs OUT.tar SBOM SUITE PACKAGES HOOK... — a minimal Debian root filesystem
# from SUITE with its updates and security archives.
mmdebstrap_rootfs() {
  local out=$1 sbom=$2 suite=$3 pkgs=$4; shift 4
  local hooks=()
  for h in "$@"; do hooks+=(--customize-hook="$h"); done
  mmdebstrap --quiet --variant=essential --include="$pkgs" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --skip=output/dev --skip=output/mknod \
    --customize-hook="chroot \"\$1\" dpkg-query -W -f '\${Package} \${Version} \${Architecture}\n' >'$sbom'" \
    "${hooks[@]}" \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    "$suite" "$out" \
    "deb http://deb.debian.org/debian $suite main" \
    "deb http://deb.debian.org/debian $suite-updates main" \
    "deb http://deb.debian.org/debian-security $suite-security main"
}

# The uid every web-facing image runs as: nginx and PHP share the site's files.
WEB_USER_HOOKS=(
  'echo "web:x:101:101:web server:/var/www:/usr/sbin/nologin" >>"$1/etc/passwd"'
  'echo "web:x:101:" >>"$1/etc/group"'
)

# ---------------------------------------------------------------- recipes
opts() { printf '%q ' "$@"; } # a recipe's options for oci.py, quoted for eval
# Each recipe_ROLE DIR writes DIR/rootfs.tar and DIR/sbom.txt, and prints oci.py's options.

recipe_pause() {
  local d=$1
  gcc -Os -static -s -o "$d/pause" "$REPO/dev/node/pause.c"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$SOURCE_DATE_EPOCH \
    -C "$d" -cf "$d/rootfs.tar" pause
  echo "pause (built from dev/node/pause.c with $(gcc --version | head -n1))" >"$d/sbom.txt"
  opts --user 65535:65535 --entrypoint '["/pause"]'
}

# The web server of every template: Debian's nginx, listening on 8080 as uid 101 ("web"),
# serving /usr/share/nginx/html, with every path it writes owned by that uid.
recipe_web() {
  local d=$1
  mmdebstrap_rootfs "$d/rootfs.tar" "$d/sbom.txt" "$SUITE" nginx-light "${WEB_USER_HOOKS[@]}" \
    "cp '$REPO/dev/node/nginx.conf' \"\$1/etc/nginx/nginx.conf\"" \
    "mkdir -p \"\$1/etc/nginx/conf.d\" && cp '$REPO/dev/node/web-default.conf' \"\$1/etc/nginx/conf.d/default.conf\"" \
    'mkdir -p "$1/usr/share/nginx/html" "$1/var/lib/nginx" "$1/var/log/nginx" && chown -R 101:101 "$1/var/lib/nginx" "$1/var/log/nginx" "$1/usr/share/nginx/html"' \
    'mkdir -p "$1/usr/share/kavling" && printf "%s\n" "<!doctype html><html lang=\"id\"><meta charset=\"utf-8\"><title>Situs belum berisi halaman</title>" "<h1>Situs ini belum berisi halaman</h1><p>Hosting aktif di Pusat Data. Unggah berkas situs ke volume <code>data</code>.</p></html>" >"$1/usr/share/kavling/index.html"'
  opts --user 101:101 --port 8080 --cmd '["nginx","-g","daemon off;"]'
}

# PHP-FPM with the extensions WordPress and OpenSID need, as uid 101 (the web server's), for
# the php template: the code is the tenant's, in the site's volume at /var/www/html.
PHP=8.4
PHP_PACKAGES="php$PHP-fpm,php$PHP-mysql,php$PHP-gd,php$PHP-curl,php$PHP-mbstring,php$PHP-xml,php$PHP-zip,php$PHP-intl,php$PHP-bcmath"
php_hooks() {
  printf '%s\n' "${WEB_USER_HOOKS[@]}" \
    "cp '$REPO/dev/node/php/php-fpm.conf' \"\$1/etc/php/$PHP/fpm/php-fpm.conf\" && rm -f \"\$1/etc/php/$PHP/fpm/pool.d/\"*" \
    'mkdir -p "$1/var/www/html" && chown 101:101 "$1/var/www/html"'
}
recipe_php() {
  local d=$1 hooks; mapfile -t hooks < <(php_hooks)
  mmdebstrap_rootfs "$d/rootfs.tar" "$d/sbom.txt" "$APP_SUITE" "$PHP_PACKAGES" "${hooks[@]}"
  opts --user 101:101 --port 9000 --workdir /var/www/html --cmd "[\"php-fpm$PHP\",\"-F\",\"-y\",\"/etc/php/$PHP/fpm/php-fpm.conf\"]"
}

# WordPress from Debian's package over the php image's PHP; dev/node/wordpress-start.sh copies
# it into the site's volume on first start and writes wp-config.php from the environment.
recipe_wordpress() {
  local d=$1 hooks; mapfile -t hooks < <(php_hooks)
  mmdebstrap_rootfs "$d/rootfs.tar" "$d/sbom.txt" "$APP_SUITE" "$PHP_PACKAGES,wordpress" "${hooks[@]}" \
    "install -m 0755 '$REPO/dev/node/wordpress-start.sh' \"\$1/usr/local/bin/kavling-wordpress\""
  opts --user 101:101 --port 9000 --workdir /var/www/html --entrypoint '["/usr/local/bin/kavling-wordpress"]'
}

# MariaDB (Debian's LTS server) as uid 999; dev/node/mariadb-start.sh initialises an empty
# data volume from the pod's environment.
recipe_mariadb() {
  local d=$1
  mmdebstrap_rootfs "$d/rootfs.tar" "$d/sbom.txt" "$APP_SUITE" mariadb-server \
    'sed -i "s/^mysql:x:[0-9]*:[0-9]*:/mysql:x:999:999:/" "$1/etc/passwd" && sed -i "s/^mysql:x:[0-9]*:/mysql:x:999:/" "$1/etc/group"' \
    'rm -rf "$1/var/lib/mysql" && mkdir -p "$1/var/lib/mysql" "$1/run/mysqld" && chown 999:999 "$1/var/lib/mysql" "$1/run/mysqld"' \
    "install -m 0755 '$REPO/dev/node/mariadb-start.sh' \"\$1/usr/local/bin/kavling-mariadb\""
  opts --user 999:999 --port 3306 --entrypoint '["/usr/local/bin/kavling-mariadb"]'
}

# git, to fetch an app's code from the Pusat Data's source mirror into the site's volume.
recipe_fetch() {
  local d=$1
  mmdebstrap_rootfs "$d/rootfs.tar" "$d/sbom.txt" "$APP_SUITE" git,ca-certificates "${WEB_USER_HOOKS[@]}"
  opts --user 101:101 --workdir /tmp --entrypoint '["git"]'
}

# The ingress controller: Traefik (built from its Go module by dev/build-tools.sh), alone in
# an otherwise empty image with a writable /tmp, as uid 65532.
TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.6.12}"
TRAEFIK_BIN="$CACHE/traefik-$TRAEFIK_VERSION/traefik"
recipe_ingress() {
  local d=$1
  [ -x "$TRAEFIK_BIN" ] || "$REPO/dev/build-tools.sh" traefik >&2
  mkdir -p "$d/root/tmp" "$d/root/etc"
  chmod 1777 "$d/root/tmp"
  install -m 0755 "$TRAEFIK_BIN" "$d/root/traefik"
  printf 'root:x:0:0::/:/nonexistent\ntraefik:x:65532:65532::/tmp:/nonexistent\n' >"$d/root/etc/passwd"
  printf 'root:x:0:\ntraefik:x:65532:\n' >"$d/root/etc/group"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$SOURCE_DATE_EPOCH \
    -C "$d/root" -cf "$d/rootfs.tar" .
  rm -rf "$d/root"
  echo "traefik $TRAEFIK_VERSION (github.com/traefik/traefik/v3, built with $(go version | cut -d' ' -f3))" >"$d/sbom.txt"
  opts --user 65532:65532 --port 8080 --port 8443 --entrypoint '["/traefik"]'
}

# Cluster DNS: CoreDNS (built by dev/build-tools.sh coredns), alone, as uid 65532.
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
COREDNS_BIN="$CACHE/coredns-$COREDNS_VERSION/coredns"
recipe_dns() {
  local d=$1
  mkdir -p "$d/root/tmp"
  chmod 1777 "$d/root/tmp"
  install -m 0755 "$COREDNS_BIN" "$d/root/coredns"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$SOURCE_DATE_EPOCH \
    -C "$d/root" -cf "$d/rootfs.tar" .
  rm -rf "$d/root"
  echo "coredns $COREDNS_VERSION (github.com/coredns/coredns, built with $(go version | cut -d' ' -f3))" >"$d/sbom.txt"
  opts --user 65532:65532 --port 53 --entrypoint '["/coredns"]'
}

# ---------------------------------------------------------------- Kavling's own image

# The base under Kavling's binaries: Debian's essential set with zlib and the CA roots (the
# binaries link glibc and zlib; Let's Encrypt is trusted through the system roots), uid 65532.
# The suite is the one the binaries were built on, so its glibc is new enough.
KAVLING_SUITE="${KAVLING_IMAGE_SUITE:-bookworm}"
kavling_base() {
  local key dir
  key=$( { declare -f kavling_base mmdebstrap_rootfs; echo "$KAVLING_SUITE $SOURCE_DATE_EPOCH"; } | sha256sum | cut -c1-12)
  dir="$IMAGES/kavling-base-$KAVLING_SUITE-$key"
  if [ ! -s "$dir/rootfs.tar" ]; then
    say "building the base of Kavling's image from Debian $KAVLING_SUITE"
    rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
    mmdebstrap_rootfs "$dir.tmp/rootfs.tar" "$dir.tmp/sbom.txt" "$KAVLING_SUITE" zlib1g,ca-certificates \
      'echo "kavling:x:65532:65532:kavling:/nonexistent:/usr/sbin/nologin" >>"$1/etc/passwd"' \
      'echo "kavling:x:65532:" >>"$1/etc/group"' \
      || die "mmdebstrap failed for Kavling's base"
    rm -rf "$dir"; mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

# kavling_image REGISTRY BIN_DIR — Kavling's binaries (debug info stripped) over the base, as
# one image tagged <version>-<digest of the binaries>: a tag names one build forever.
kavling_image() {
  local registry=$1 bins=$2 base w tag ref version
  for b in kavling-operator kavling-dns kavling; do
    [ -x "$bins/$b" ] || die "$bins/$b is not built (cargo build --workspace, or --release)"
  done
  base=$(kavling_base)
  w=$(mktemp -d); trap 'rm -rf "$w"' RETURN
  mkdir -p "$w/root/usr/local/bin"
  for b in kavling-operator kavling-dns kavling; do
    objcopy --strip-debug "$bins/$b" "$w/root/usr/local/bin/$b"
  done
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)
  tag="$version-$(cat "$w/root/usr/local/bin/"* | sha256sum | cut -c1-12)"
  ref="$registry/kavling/kavling:$tag"
  if skopeo inspect --raw --tls-verify=false "docker://$ref" >/dev/null 2>&1; then
    say "$ref already there"; echo "$ref"; return
  fi
  cp "$base/rootfs.tar" "$w/rootfs.tar"
  tar --append --owner=0 --group=0 --numeric-owner --mtime=@$SOURCE_DATE_EPOCH \
    -C "$w/root" -f "$w/rootfs.tar" ./usr/local/bin/kavling-operator ./usr/local/bin/kavling-dns ./usr/local/bin/kavling
  { cat "$base/sbom.txt"; for b in kavling-operator kavling-dns kavling; do echo "$b $tag (this repository)"; done; } >"$w/sbom.txt"
  python3 "$REPO/dev/node/oci.py" "$w/rootfs.tar" "$w/oci" "kavling:$tag" \
    --user 65532:65532 --entrypoint '["/usr/local/bin/kavling-operator"]' --port 8080 >"$w/digest"
  skopeo copy --quiet --dest-tls-verify=false "oci:$w/oci:$tag" "docker://$ref" || die "could not push $ref"
  mkdir -p "$IMAGES/kavling-sbom"; cp "$w/sbom.txt" "$IMAGES/kavling-sbom/$tag.txt"
  say "pushed $ref ($(du -h "$w/rootfs.tar" | cut -f1) uncompressed; SBOM $IMAGES/kavling-sbom/$tag.txt)"
  echo "$ref"
}

# ---------------------------------------------------------------- build, push

image_dir() { # the cache directory for ROLE (its key hashes the recipe and its inputs)
  local role=$1 key
  key=$( { declare -f "recipe_$role" mmdebstrap_rootfs php_hooks; cat "$REPO/dev/node/oci.py";
           echo "${WEB_USER_HOOKS[*]} $PHP_PACKAGES";
           [ "$role" = web ] && cat "$REPO/dev/node/nginx.conf" "$REPO/dev/node/web-default.conf"; [ "$role" = pause ] && cat "$REPO/dev/node/pause.c";
           case $role in php|wordpress) cat "$REPO/dev/node/php/php-fpm.conf";; esac
           [ "$role" = wordpress ] && cat "$REPO/dev/node/wordpress-start.sh"
           [ "$role" = mariadb ] && cat "$REPO/dev/node/mariadb-start.sh"
           [ "$role" = ingress ] && { [ -x "$TRAEFIK_BIN" ] || "$REPO/dev/build-tools.sh" traefik >&2; sha256sum <"$TRAEFIK_BIN"; };
           [ "$role" = dns ] && { [ -x "$COREDNS_BIN" ] || "$REPO/dev/build-tools.sh" coredns >&2; sha256sum <"$COREDNS_BIN"; };
           echo "$SUITE $APP_SUITE $SOURCE_DATE_EPOCH"; } | sha256sum | cut -c1-12)
  echo "$IMAGES/$(field "$role" name)-$(field "$role" tag)-$key"
}

build_one() {
  local role=$1 dir; dir=$(image_dir "$role")
  declare -F "recipe_$role" >/dev/null || die "no recipe for '$role' (catalog: $CATALOG)"
  if [ -f "$dir/oci/index.json" ]; then say "$role cached ($(basename "$dir"))"; return; fi
  say "building $role from Debian packages"
  local t0=$SECONDS w; w="$dir.tmp"; rm -rf "$w"; mkdir -p "$w"
  local opts; opts=$("recipe_$role" "$w") || die "recipe $role failed"
  eval "python3 '$REPO/dev/node/oci.py' '$w/rootfs.tar' '$w/oci' '$(field "$role" name):$(field "$role" tag)' $opts" >"$w/digest"
  rm -f "$w/rootfs.tar" "$w/pause"
  rm -rf "$dir"; mv "$w" "$dir"
  say "$role built in $((SECONDS - t0))s: $(cat "$dir/digest") ($(wc -l <"$dir/sbom.txt") packages)"
}

push_one() {
  local registry=$1 role=$2 dir; dir=$(image_dir "$role")
  local ref="$registry/kavling/$(field "$role" name):$(field "$role" tag)"
  # A tag names one image forever (nodes cache by tag): a changed recipe needs a new tag.
  local have want
  have=$(skopeo inspect --raw --tls-verify=false "docker://$ref" 2>/dev/null || true)
  want=$(cat "$dir/oci/blobs/sha256/$(cut -d: -f2 "$dir/digest")")
  if [ -n "$have" ] && [ "$have" != "$want" ]; then
    die "$ref already holds a different image: the $role recipe changed, so bump its tag in templates/images.yaml"
  fi
  if [ "$have" = "$want" ]; then say "$ref already there"; return; fi
  skopeo copy --quiet --dest-tls-verify=false "oci:$dir/oci:$(field "$role" tag)" "docker://$ref" \
    || die "could not push $role to $ref"
  say "pushed $ref"
}

cmd=${1:-build}; shift || true
case "$cmd" in
  build) for r in ${*:-$(roles)}; do build_one "$r"; done ;;
  push) reg=${1:?usage: dev/images.sh push REGISTRY [ROLE...]}; shift
        for r in ${*:-$(roles)}; do build_one "$r"; push_one "$reg" "$r"; done ;;
  sbom) cat "$(image_dir "${1:?usage: dev/images.sh sbom ROLE}")/sbom.txt" ;;
  ref) r=${1:?usage: dev/images.sh ref ROLE}; [ -n "$(field "$r" name)" ] || die "no role '$r' in $CATALOG"
       echo "$(field "$r" name):$(field "$r" tag)" ;;
  kavling) kavling_image "${1:?usage: dev/images.sh kavling REGISTRY [BIN_DIR]}" \
             "${2:-${CARGO_TARGET_DIR:-$REPO/target}/debug}" ;;
  *) die "usage: dev/images.sh build|push REGISTRY|sbom ROLE|ref ROLE|kavling REGISTRY [BIN_DIR]" ;;
esac
