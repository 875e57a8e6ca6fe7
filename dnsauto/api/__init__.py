"""The JMAP management API that ``dnsauto run`` serves (RFC 8620 + Stalwart's ``x:`` objects).

The server's effective configuration (file + objects set over the API) is
:mod:`dnsauto.config.overlay`. The wire contract is ``README.md`` beside this file. Modules:

* :mod:`.protocol`: the request object, problem details and method errors;
* :mod:`.auth`: bearer keys and the rate limit of failed attempts;
* :mod:`.client`: the client the ``dnsauto get|create|update|delete|query|approve`` commands use;
* :mod:`.methods`: ``x:Bootstrap``, ``x:DnsServer``, ``x:Domain``, ``x:Task`` and ``Core/echo``;
* :mod:`.tasks`: what the runs the daemon made did, for ``x:Task/get``;
* :mod:`.server`: the aiohttp application (the only module importing aiohttp).
"""
