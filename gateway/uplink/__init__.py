"""The uplink: the only code that touches the network (MQTT publisher, outbox, ingester)."""
