"""Clients of a dynref node."""
