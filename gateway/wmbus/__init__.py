"""The wireless M-Bus protocol stack, sans-IO: bytes in, typed immutable objects out."""
