"""Relayman's producer side: CloudEvents in over HTTP, published to the channel layer."""
