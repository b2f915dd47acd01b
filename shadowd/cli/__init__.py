"""The command line: ``shadowd`` (``shadowd.cli.shadowd``: the daemon and its offline
tools, one module per subcommand: ``log``, ``analyze``, ``trace``, ``agent``, ``lab``,
``backtest``), ``shadowctl`` (``shadowd.cli.shadowctl``: the daemon's control socket; its
options in ``shadowctl_arguments``, its replies drawn for people by ``tables``,
``tables_scenarios`` and ``tables_policies``) and their shell completion scripts
(``completion``). Kept empty: ``shadowctl`` must not pay for ``shadowd``'s imports.
"""
