"""The web console for auditors and admins (operator-interface.md)."""
