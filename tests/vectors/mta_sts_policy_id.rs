// MTA-STS policy ids as Stalwart computes them when no id is configured.
//
// Run: rustc -O tests/vectors/mta_sts_policy_id.rs -o /tmp/mta_sts_policy_id && /tmp/mta_sts_policy_id
// The numbers it prints are the literals in tests/test_records_mtasts.py.
//
// Stalwart's policy (crates/common/src/config/smtp/resolver.rs, read at HEAD): `Policy::try_parse`
// sorts the MX host strings (`sort_unstable`) and removes duplicates, maps `*.d` to
// MxPattern::StartsWith("d") and any other host to MxPattern::Equals(host), and `Policy::hash`
// feeds `mode`, then `max_age`, then `mx` (a boxed slice) into std's DefaultHasher
// (SipHash-1-3, keys 0, 0); the u64 is printed in decimal. The types below are Stalwart's, with
// their derives.
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mode {
    Enforce,
    Testing,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum MxPattern {
    Equals(String),
    StartsWith(String),
}


fn pattern(host: &str) -> MxPattern {
    match host.strip_prefix("*.") {
        Some(rest) => MxPattern::StartsWith(rest.to_string()),
        None => MxPattern::Equals(host.to_string()),
    }
}

fn policy_id(mode: Mode, max_age: u64, hosts: &[&str]) -> String {
    let mut sorted: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mx: Box<[MxPattern]> = sorted.iter().map(|h| pattern(h)).collect();
    let mut hasher = DefaultHasher::new();
    mode.hash(&mut hasher);
    max_age.hash(&mut hasher);
    mx.hash(&mut hasher);
    hasher.finish().to_string()
}

fn main() {
    let cases: &[(&str, Mode, u64, &[&str])] = &[
        ("testing 7d mail.example.test", Mode::Testing, 604800, &["mail.example.test"]),
        ("testing 7d mx2 mx1", Mode::Testing, 604800, &["mx2.example.org", "mx1.example.org"]),
        ("enforce 1d mail.example.com", Mode::Enforce, 86400, &["mail.example.com"]),
        ("none 7d *.example.net a.example", Mode::None, 604800, &["*.example.net", "a.example"]),
        (
            "enforce 365d four hosts",
            Mode::Enforce,
            31536000,
            &["mx.b.example", "*.a.example", "mx.a.example", "backup-mx.long-provider-name.example"],
        ),
        ("testing 7d apex host", Mode::Testing, 604800, &["example.org"]),
        ("testing 7d duplicate host", Mode::Testing, 604800, &["mx.example.org", "mx.example.org"]),
        ("enforce 7d wildcard sorts as text", Mode::Enforce, 604800, &["b.example", "*.z.example"]),
    ];
    for (label, mode, max_age, hosts) in cases {
        println!("{label}: {}", policy_id(*mode, *max_age, hosts));
    }
}
