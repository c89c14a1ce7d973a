"""``dograh doctor``: drift checks on an install directory, and their repair."""
