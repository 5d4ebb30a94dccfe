"""The host side of the image, run by `build.py` and `make run`, never shipped in the device's
wheel: root filesystem, disk image, OTA zip writing and signing-key creation, the qemu runner
and the development runner. What it shares with the device comes from runtime.boot and
runtime.update."""
