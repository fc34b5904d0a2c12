#!/bin/sh
# Fetch the Debian kernel that blade images boot (linux-image-*-cloud-amd64:
# virtio, NFS client and IPVS as modules) into a cache directory that the
# shipped recipes and the tests look in. Reuses a .deb already there or in
# apt's archive cache; otherwise `apt-get download`s the one the metapackage
# points to. Usage: scripts/fetch-kernel.sh [METAPACKAGE]
#   RACKBOOT_KERNEL_DIR  where the .deb goes (default /var/cache/rackboot/kernel)
set -eu
DIR=${RACKBOOT_KERNEL_DIR:-/var/cache/rackboot/kernel}
META=${1:-linux-image-cloud-amd64}
FLAVOUR=${META#linux-image-}
mkdir -p "$DIR"

have=$(ls "$DIR"/linux-image-[0-9]*-"$FLAVOUR"_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$have" ]; then
  echo "kernel: $have"
  exit 0
fi

real=$(apt-cache depends "$META" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
if [ -z "$real" ]; then
  echo "fetch-kernel: apt knows no $META (run apt-get update?)" >&2
  exit 1
fi

cached=$(ls /var/cache/apt/archives/"$real"_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$cached" ]; then
  cp "$cached" "$DIR/"
else
  # apt-get download writes into the working directory; its _apt sandbox may
  # not write there, which only costs a warning.
  (cd "$DIR" && apt-get download -q "$real")
fi
echo "kernel: $(ls "$DIR"/"$real"_*.deb | sort -V | tail -n 1)"
