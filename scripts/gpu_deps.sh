#!/usr/bin/env bash
# Downloads, on a Debian 12 machine with network, the .deb files that scripts/gpu_check.sh
# unpacks on a GPU machine that has no network and lacks some of the build's dependencies
# (Open MPI, HDF5, CLI11, nlohmann-json, fmt, Catch2, zlib headers). Nothing is installed here:
# `apt-get download` only fetches the files (about 20 MiB, 53 packages).
#
#   bash scripts/gpu_deps.sh              download into .gpu-debs/ (git-ignored; the device
#                                         tool carries it with `carry: [".gpu-debs"]`)
#   bash scripts/gpu_deps.sh DIR          download into DIR
#   bash scripts/gpu_deps.sh --dry-run    print the packages, versions and sizes; download nothing
#
# The files are Debian 12 (bookworm, amd64) builds: they work on a base of the same or a newer
# glibc (Debian 12 and later, Ubuntu 22.04 and later), not on an older one. gpu_check.sh
# unpacks them with `dpkg -x` into a prefix of its own (never into /), drops every shared library
# the GPU machine already has (same soname, by `ldconfig -p`) unless a -dev link points at it,
# and points CMake, PATH and LD_LIBRARY_PATH at the rest.
#
# Not here: the compiler, CMake, Python and PyTorch. The GPU machine must have g++ (C++17), CMake
# >= 3.18 and a CUDA PyTorch built with the C++11 ABI (bench/gpu.md says why).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
dir=.gpu-debs
for a in "$@"; do
  case "$a" in
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "gpu_deps: unknown option $a (see --help)" >&2; exit 2 ;;
    *) dir=$a ;;
  esac
done

# What the build reads (headers, CMake configs, link-time .so names, mpirun and its wrappers).
DEV=(libopenmpi-dev openmpi-bin openmpi-common
     libhdf5-dev libcli11-dev nlohmann-json3-dev libfmt-dev catch2 zlib1g-dev libssl-dev)
# What those link against at run time: Open MPI's libraries and transports, HDF5 and its
# compression filters, fmt.
RUNTIME=(libopenmpi3 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libpmix2 libmunge2
         libfabric1 libucx0 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libpsm2-2
         libpsm-infinipath1 libnuma1 libfmt9 libhdf5-103-1 libsz2 libaec0)
# HDF5's own needs (libcurl.so.4 for its S3 driver, libcrypto.so.3) and theirs. Most machines
# already have these sonames, so gpu_check.sh drops them again; they are here for one that lacks
# them.
OPTIONAL=(libcurl4 libssl3 libbrotli1 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
          libkeyutils1 libcom-err2 libidn2-0 libunistring2 libldap-2.5-0 libsasl2-2
          libsasl2-modules-db libnghttp2-14 libpsl5 librtmp1 libgnutls30 libhogweed6 libnettle8
          libgmp10 libp11-kit0 libtasn1-6 libffi8 libssh2-1)
PKGS=("${DEV[@]}" "${RUNTIME[@]}" "${OPTIONAL[@]}")

command -v apt-get >/dev/null || { echo "gpu_deps: needs apt-get (a Debian 12 machine)" >&2; exit 2; }
. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
  echo "gpu_deps: warning: this is ${PRETTY_NAME:-an unknown system}, not Debian 12; the files" \
       "will be that system's builds (bench/gpu.md assumes Debian 12's)" >&2
fi

# `--print-uris` resolves every name to the candidate version's file without downloading.
uris=$(apt-get download --print-uris "${PKGS[@]}" 2>&1) || {
  echo "$uris" >&2
  echo "gpu_deps: apt-get cannot resolve these packages; run 'apt-get update' first" >&2
  exit 1
}
total=$(awk '{s += $3} END {printf "%.1f", s / 1048576}' <<<"$uris")
count=$(wc -l <<<"$uris")
if [ "$dry_run" -eq 1 ]; then
  awk '{gsub("\047", "", $2); printf "  %-60s %8.1f KiB\n", $2, $3 / 1024}' <<<"$uris"
  echo "gpu_deps: $count packages, $total MiB; would download into $dir (--dry-run: nothing fetched)"
  exit 0
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
echo "gpu_deps: downloading $count packages ($total MiB) into $dir"
# apt's sandbox user must be able to write there; as root `_apt` cannot write into a private
# folder, so download into a temporary one it can write and move the files.
tmp=$(mktemp -d)
chmod 0777 "$tmp"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "${PKGS[@]}")
rm -f "$dir"/*.deb
mv "$tmp"/*.deb "$dir"/
# What was fetched and from which system: "GROUP PACKAGE VERSION" per line. gpu_check.sh unpacks
# the optional group only where the system lacks a library of it.
group_of() {
  local p
  for p in "${OPTIONAL[@]}"; do [ "$p" = "$1" ] && { echo optional; return; }; done
  for p in "${DEV[@]}"; do [ "$p" = "$1" ] && { echo dev; return; }; done
  echo runtime
}
{
  echo "# scripts/gpu_deps.sh on ${PRETTY_NAME:-unknown} ($(dpkg --print-architecture)), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for f in "$dir"/*.deb; do
    read -r pkg ver < <(dpkg-deb --show --showformat='${Package} ${Version}\n' "$f")
    echo "$(group_of "$pkg") $pkg $ver"
  done
} >"$dir/MANIFEST"
echo "gpu_deps: $(ls "$dir"/*.deb | wc -l) files, $(du -sh "$dir" | cut -f1) in $dir (MANIFEST lists them)"
