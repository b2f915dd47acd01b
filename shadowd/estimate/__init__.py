"""The traffic matrix, estimated from link counters, edge totals and partial flow data."""
