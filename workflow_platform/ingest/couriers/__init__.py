"""Couriers: find a courier's files in its landing location, check them, quarantine the refused ones."""
