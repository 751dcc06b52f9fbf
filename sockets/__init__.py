"""Relayman's subscriber side: the Phoenix Channels protocol over WebSockets."""
