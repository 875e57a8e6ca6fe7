"""The MTA-STS policy id Stalwart publishes when none is configured.

The expected ids are what rustc 1.95.0's ``std::collections::hash_map::DefaultHasher`` printed
for the policy struct of tests/vectors/mta_sts_policy_id.rs (``rustc -O`` that file and run it);
they were not produced by dnsauto.
"""

import pytest

from dnsauto.config.domain import Domain
from dnsauto.config.mailserver import MailServer
from dnsauto.records.mail import build_records
from dnsauto.records.mtasts import mta_sts_policy_id
from dnsauto.records.zonefile import to_zone_text

D = "example.test"
H = "mail.example.test"
WEEK = 604800

RUSTC_IDS = [
    ("testing", WEEK, ["mail.example.test"], "8430040749345519133"),
    ("testing", WEEK, ["mx2.example.org", "mx1.example.org"], "12942536112359691423"),
    ("enforce", 86400, ["mail.example.com"], "8993736953044437694"),
    ("none", WEEK, ["*.example.net", "a.example"], "14115226269577281961"),
    (
        "enforce",
        31536000,
        ["mx.b.example", "*.a.example", "mx.a.example", "backup-mx.long-provider-name.example"],
        "12963577961576982287",
    ),
    ("testing", WEEK, ["example.org"], "13267883735608379538"),
    ("testing", WEEK, ["mx.example.org", "mx.example.org"], "4846053500619731031"),
    ("enforce", WEEK, ["b.example", "*.z.example"], "17087090115333354193"),
]


def mta_sts_lines(**mail_server):
    rrsets = build_records(
        domain=D,
        publish=["mtaSts"],
        settings=Domain.model_validate({}),
        server_hostname=H,
        mail_server=MailServer.model_validate(mail_server),
        ttl=300,
        dkim_keys=[],
    )
    return to_zone_text(rrsets).splitlines()


@pytest.mark.parametrize(("mode", "max_age", "mx", "expected"), RUSTC_IDS)
def test_policy_id_equals_rust_default_hasher_of_stalwart_policy(mode, max_age, mx, expected):
    assert mta_sts_policy_id(mode, max_age, mx) == expected


def test_without_a_policy_id_mta_sts_records_carry_the_hash_of_testing_7d_and_the_mx_hosts():
    assert mta_sts_lines() == [
        '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=8430040749345519133"',
        "mta-sts.example.test. 300 IN CNAME mail.example.test.",
    ]


def test_policy_mode_max_age_and_mx_hosts_decide_the_id():
    lines = mta_sts_lines(
        mtaStsMode="enforce",
        mtaStsMaxAge="1d",
        mailExchangers=[{"priority": 10, "hostname": "mail.example.com"}],
    )

    assert lines[0] == '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=8993736953044437694"'


def test_mx_hosts_are_hashed_sorted_whatever_their_priority_order():
    lines = mta_sts_lines(
        mailExchangers=[
            {"priority": 10, "hostname": "mx2.example.org"},
            {"priority": 20, "hostname": "mx1.example.org"},
        ]
    )

    assert lines[0] == '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=12942536112359691423"'


def test_configured_mx_patterns_replace_the_mx_hosts_in_the_policy():
    lines = mta_sts_lines(mtaStsMode="none", mtaStsMx=["a.example", "*.example.net"])

    assert lines[0] == '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=14115226269577281961"'


def test_a_configured_policy_id_is_published_as_it_is():
    lines = mta_sts_lines(mtaStsPolicyId="20260101")

    assert lines[0] == '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=20260101"'


def test_no_mx_means_no_policy_and_no_mta_sts_records():
    assert mta_sts_lines(mailExchangers=[]) == []
    assert mta_sts_lines(mtaStsMx=[]) == []
