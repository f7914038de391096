#!/bin/sh
# Install the Debian packages the build, tests and demo need, but only those
# that are missing: dpkg-query first, apt-get only for what is absent.
# Used by `make deps`, by every make target that needs a package, and by .ci/run.
set -eu

PKGS="gcc make pkg-config asn1c openssl libssl-dev libcunit1-dev \
libcurl4-openssl-dev libevent-dev libjansson-dev libsqlite3-dev \
libpcsclite-dev libinih-dev"

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
