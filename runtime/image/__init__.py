"""The ChargeOS disk image: its layout and boot environment (read on the device by the updater)
and the build steps `build.py image` runs on the build host."""
