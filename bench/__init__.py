"""bench: measures what isolation costs (boot time, memory, syscall latency) across runtimes."""

__version__ = "0.3.0"
