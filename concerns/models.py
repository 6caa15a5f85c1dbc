"""Concern tables (filled in by the concerns issue)."""
