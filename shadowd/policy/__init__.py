"""Route policies, pure: ``generate`` (IGP metric proposals) and ``bgp`` (route-maps),
``effect`` and ``drain`` (what a change does to the worst case), ``forwarding`` (walking
the tables a policy leaves), ``render``, ``targets`` and ``runconf`` (a policy as FRR
configuration), ``deployed`` (what production runs), ``rollout``, ``actions`` and
``journal`` (the phased rollout as a state machine and its log), ``feedback`` (what
production showed against the prediction).
"""
