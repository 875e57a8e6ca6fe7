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
    ("testing", WEEK, ["mail.example.test"], "17455372567108505423"),
    ("testing", WEEK, ["mx2.example.org", "mx1.example.org"], "1864649749460420664"),
    ("enforce", 86400, ["mail.example.com"], "1415482163114283094"),
    ("none", WEEK, ["*.example.net", "a.example"], "5110388272887963200"),
    (
        "enforce",
        31536000,
        ["mx.b.example", "*.a.example", "mx.a.example", "backup-mx.long-provider-name.example"],
        "14403033230668752088",
    ),
    ("testing", WEEK, ["example.org"], "757049593311248160"),
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
        '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=17455372567108505423"',
        "mta-sts.example.test. 300 IN CNAME mail.example.test.",
    ]


def test_policy_mode_max_age_and_mx_hosts_decide_the_id():
    lines = mta_sts_lines(
        mtaStsMode="enforce",
        mtaStsMaxAge="1d",
        mailExchangers=[{"priority": 10, "hostname": "mail.example.com"}],
    )

    assert lines[0] == '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=1415482163114283094"'


def test_mx_hosts_are_hashed_sorted_whatever_their_priority_order():
    lines = mta_sts_lines(
        mailExchangers=[
            {"priority": 10, "hostname": "mx2.example.org"},
            {"priority": 20, "hostname": "mx1.example.org"},
        ]
    )

    assert lines[0] == '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=1864649749460420664"'


def test_configured_mx_patterns_replace_the_mx_hosts_in_the_policy():
    lines = mta_sts_lines(mtaStsMode="none", mtaStsMx=["a.example", "*.example.net"])

    assert lines[0] == '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=5110388272887963200"'


def test_a_configured_policy_id_is_published_as_it_is():
    lines = mta_sts_lines(mtaStsPolicyId="20260101")

    assert lines[0] == '_mta-sts.example.test. 300 IN TXT "v=STSv1; id=20260101"'


def test_no_mx_means_no_policy_and_no_mta_sts_records():
    assert mta_sts_lines(mailExchangers=[]) == []
    assert mta_sts_lines(mtaStsMx=[]) == []
