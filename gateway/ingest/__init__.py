"""The backend ingester program: MQTT in, line protocol out to the time-series store; head-end mode."""
