"""The A/B boot scheme the bootloader, the device and the image builder agree on: slot names and
partition labels, GRUB's environment block and its variables, the try limit, and which slot is
booted. The updater and the health check use it on the device; image.builder imports it."""
