"""The control socket, shared by the daemon and ``shadowctl``.

- ``protocol``: the tagged requests, the request/reply unions, framing and the codec;
  ``replies`` and ``rows`` the replies and the rows they carry;
- ``server`` (the daemon's side: peer checks, limits, timeouts), ``service`` (the
  dispatcher: one ``on_<tag>`` per request), ``errors`` (the one error -> reply-code
  table), ``policybook`` (the policy requests answered from a book of policies);
- ``client`` and ``blocking`` (asyncio and blocking clients), ``endpoint``,
  ``socketfile`` and ``frame_reader`` (the socket's file and its frames).

The daemon's answers are ``shadowd.handlers``; the terminal tables are ``shadowd.cli``'s.
"""
