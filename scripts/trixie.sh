#!/usr/bin/env bash
# Builds and tests neurosweep against Debian 13 (trixie)'s LibTorch 2.6 in a debootstrap root,
# from this checkout, on a Debian 12 machine (issue 14: the code must build with LibTorch 2.x).
#
#   sudo bash scripts/trixie.sh            # root in $TRIXIE_ROOT (default /var/tmp/ns-trixie)
#   bash scripts/trixie.sh --root-only      # only create the root (debootstrap + packages)
#   CTEST_ARGS="-R test_neural" bash scripts/trixie.sh   # a subset of the tests
#
# The root is made once (debootstrap --variant=minbase trixie from Debian's archive) and kept;
# inside it scripts/setup.sh installs the project's packages from trixie and builds into
# build-trixie/ (gitignored), then ctest runs there. Needs root (debootstrap, chroot, mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
ROOT=${TRIXIE_ROOT:-/var/tmp/ns-trixie}
MIRROR=${TRIXIE_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "trixie.sh: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null ||
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap </dev/null; }
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
  echo "trixie.sh: debootstrap trixie into $ROOT"
  debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
fi
mounts=()
cleanup() { for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done; }
trap cleanup EXIT
bind() {  # bind SOURCE TARGET
  mkdir -p "$2"
  mountpoint -q "$2" || { mount --bind "$1" "$2"; mounts+=("$2"); }
}
mountpoint -q "$ROOT/proc" || { mount -t proc proc "$ROOT/proc"; mounts+=("$ROOT/proc"); }
# hwloc (Open MPI) reads the CPU topology in /sys, slurmd its cgroups (a recursive bind).
mkdir -p "$ROOT/sys"
mountpoint -q "$ROOT/sys" || { mount --rbind /sys "$ROOT/sys"; mount --make-rslave "$ROOT/sys"; mounts+=("$ROOT/sys"); }
bind /dev "$ROOT/dev"
bind /dev/pts "$ROOT/dev/pts"
bind /dev/shm "$ROOT/dev/shm"
bind "$SRC" "$ROOT/src"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
# No service starts inside the root (slurm, munge): the tests start what they need.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 bash -c "$1"; }
in_root "cd /src && bash scripts/setup.sh --deps"
in_root "dpkg-query -W -f='LibTorch in the root: \${Version}\n' libtorch-dev"
[ "${1:-}" = "--root-only" ] && exit 0
start=$(date +%s)
in_root "cd /src && BUILD_DIR=build-trixie bash scripts/setup.sh"
echo "trixie.sh: build took $(( $(date +%s) - start )) s"
in_root "cd /src && ctest --test-dir build-trixie -j2 --output-on-failure ${CTEST_ARGS:-}"
