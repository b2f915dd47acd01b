"""Where a large failure sweep runs when one process is too slow: ``processes`` forks
worker processes on this machine. An adapter: the sweep itself is ``shadowd.engine``'s."""
