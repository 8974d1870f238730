"""The billing core, shared by the gateway daemon and the head-end ingester: provisioned meters, dedup,
the reading processor (monthly index, events, anomalies, coverage) and its SQLite state store."""
