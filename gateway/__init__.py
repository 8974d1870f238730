"""wmbus-gateway: a wireless M-Bus (EN 13757-4 / OMS) radio gateway for water utilities."""

__version__ = "0.1.0"
