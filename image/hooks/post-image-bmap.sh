#!/bin/sh
# Post-image hook: a block map beside every disk image in BINARIES_DIR, for fast verified
# flashing with `bmaptool copy IMAGE DEVICE`.
set -eu
: "${BINARIES_DIR:?BINARIES_DIR is not set}"

for image in "$BINARIES_DIR"/*.img; do
    [ -e "$image" ] || continue
    bmaptool create --output "${image%.img}.bmap" "$image"
    echo "bmap: ${image%.img}.bmap"
done
