"""The gateway's side of MQTT: durable outbox, publisher, broker settings, topics and payloads."""
