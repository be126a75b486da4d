"""Campaigns: a segment split by customer id into sub-audiences, each sent to its destinations."""
