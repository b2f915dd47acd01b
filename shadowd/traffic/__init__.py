"""Traffic over time, pure: ``trace`` generates deterministic telemetry traces from a real
topology (a diurnal demand matrix, the link counters it gives, flaps and surges);
``episodes`` finds their spike episodes, the ground truth the forecaster is scored on.
Reading and writing trace files is ``shadowd.ingest.tracefile``'s; replaying them,
``ingest.replay``'s.
"""
