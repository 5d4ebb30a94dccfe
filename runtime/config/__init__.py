"""Profile configuration on the device: loading, the editable store, and device secrets."""
