"""Radio sources: the only code that touches serial ports and subprocesses."""
