#!/bin/sh
# Post-build hook: trim what a charger never reads from the root filesystem in TARGET_DIR
# (documentation, man pages, locales other than C, package caches) and print what it saved.
set -eu
: "${TARGET_DIR:?TARGET_DIR is not set}"

before=$(du -sk "$TARGET_DIR" | cut -f1)
rm -rf "$TARGET_DIR/usr/share/doc" "$TARGET_DIR/usr/share/man" "$TARGET_DIR/usr/share/info"
rm -rf "$TARGET_DIR/var/cache/apt" "$TARGET_DIR/var/lib/apt/lists"
if [ -d "$TARGET_DIR/usr/share/locale" ]; then
    find "$TARGET_DIR/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C*' -exec rm -rf {} +
fi
after=$(du -sk "$TARGET_DIR" | cut -f1)
echo "trim: saved $((before - after)) KiB ($before KiB -> $after KiB)"
