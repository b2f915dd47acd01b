"""shadowd: a live shadow of a production IP network."""
