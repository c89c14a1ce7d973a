"""``doctor --live``: checks against the running stack."""
