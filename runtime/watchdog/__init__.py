"""The ChargeOS watchdog (supervisord `watchdog`): restarts a hung service, and is itself watched.

Every service sends a heartbeat from its event loop (runtime.heartbeat); a running program that
stays silent is hung and restarted through supervisord. The watchdog feeds systemd's
`WatchdogSec` of chargeos.service only while supervisord answers, so a hung supervisord (or a
hung watchdog) gets the whole service tree restarted by systemd.
"""
