"""Marketo's REST/Bulk HTTP layer: token, request loop, retry table, error envelopes.

Knows nothing of Singer.
"""
