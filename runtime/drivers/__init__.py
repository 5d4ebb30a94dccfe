"""Device drivers: thin, typed wrappers that speak one bus each and return frozen dataclasses."""
