"""dnsauto provider for DNS UPDATE (RFC 2136): ``@type`` ``Tsig`` and ``Sig0``.

The provider classes are in :mod:`dnsauto_rfc2136.provider`, their settings in
:mod:`dnsauto_rfc2136.settings`; dnsauto finds them through the ``dnsauto.providers`` entry
points. See the README for what is proven against BIND, Knot and PowerDNS.
"""
