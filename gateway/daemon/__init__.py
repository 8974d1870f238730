"""The gateway daemon: billing core (dedup, state, monthly index, events, coverage) and its run loop."""
