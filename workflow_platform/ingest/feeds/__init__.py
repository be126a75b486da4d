"""Feeds: type and standardize a feed's files into the staging table; rejects and the value policy."""
