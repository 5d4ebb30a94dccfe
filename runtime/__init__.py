"""ChargeOS runtime: the services that run on the charger and what they share."""
