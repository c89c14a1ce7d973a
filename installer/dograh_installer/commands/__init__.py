"""One module per command: resolve inputs, call the logic, print, return an exit code."""
