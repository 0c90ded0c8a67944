"""Runtime drivers, one module each, behind the contract in runtimes.base."""
