"""The host's own app: orders, announced to browsers through Relayman when saved."""
