"""tap-marketo-bulk: a Singer tap for Marketo's Bulk Extract API."""
