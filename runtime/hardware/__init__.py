"""The hardware boundary: device data types and the Protocols the charging logic depends on."""
