"""Drivers deploy a policy to routers and take it back: the adapters between a rollout
and the routers' configuration.

- ``base``: the ``Driver`` protocol and what every driver shares (the changes per router,
  the vtysh lines that apply and restore them, ``RestoreMismatch``);
- ``frr``: ``FrrDriver``, through vtysh, one FRR pathspace per router;
- ``dryrun``: ``DryRunDriver``, only writing down what it would do;
- ``saved``: routers' pre-policy running configs, kept durably for a restore.

``apply(policy, routers)`` acts on the changes whose router is in ``routers``. Before it
first touches a router for a policy, ``FrrDriver`` saves that router's whole
``show running-config`` durably (``saved.SavedConfigs``); re-applying is harmless.
``restore(policy, routers)`` puts back, slot by slot, what the saved config held (the
same line again, ``no ...`` where there was none), then checks that ``show
running-config`` is byte-identical to the saved text (FRR 8.4 prints no timestamps or
counters there, so nothing is ignored) and raises ``RestoreMismatch`` with the diff if
not. It reads only what apply saved, so it works from a fresh driver after a crash, and
does nothing on routers it never touched. ``DryRunDriver`` keeps its saves and its idea of
the running configs durably in the same way.
"""
