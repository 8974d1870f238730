"""The MQTT wire format (3.1.1 and the parts of 5 we use), sans-IO: packets to bytes and back."""
