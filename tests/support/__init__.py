"""Helpers the end-to-end tests share: real server processes on free ports."""
