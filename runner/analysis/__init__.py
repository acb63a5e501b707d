"""Reading tables: compare two of them, judge claims, write reports. pandas only, never torch."""
