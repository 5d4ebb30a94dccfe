"""The ChargeOS image: its declarative description (boards/, overlays/, hooks/) and, in
`image.builder`, the host-side pipeline that builds it. Nothing here ships on the device."""
