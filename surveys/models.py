"""Survey tables (filled in by the surveys issue)."""
