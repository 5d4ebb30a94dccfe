"""The privileged helper: the one root service, on a local socket, that does what the services'
user may not (RAUC's model). It installs a verified update into the inactive slot, activates it
in GRUB's environment, reboots the machine, and starts or stops debug SSH, for peers in the
`chargeos` group only.
"""
