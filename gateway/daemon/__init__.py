"""The gateway program: configuration, radio sources wired to the billing core, the run loop."""
