"""shadowd benchmarks: each prints one JSON document, with a baseline measured in the same run."""
