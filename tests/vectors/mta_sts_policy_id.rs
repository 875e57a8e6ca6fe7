// MTA-STS policy ids as Stalwart computes them when no id is configured.
//
// Run: rustc -O tests/vectors/mta_sts_policy_id.rs -o /tmp/mta_sts_policy_id && /tmp/mta_sts_policy_id
// The numbers it prints are the literals in tests/test_records_mtasts.py.
//
// Assumed shape of Stalwart's policy (crates/common/src/config/smtp/resolver.rs; not quoted in
// reference/stalwart.md): the struct below with derive(Hash), its mx patterns sorted by their
// derived Ord, hashed with std's DefaultHasher (SipHash-1-3, keys 0, 0) while `id` is still the
// empty string, the u64 printed in decimal. A host `*.d` is MxPattern::StartsWith("d"), any
// other host MxPattern::Equals(host).
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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Policy {
    id: String,
    mode: Mode,
    mx: Vec<MxPattern>,
    max_age: u64,
}

fn pattern(host: &str) -> MxPattern {
    match host.strip_prefix("*.") {
        Some(rest) => MxPattern::StartsWith(rest.to_string()),
        None => MxPattern::Equals(host.to_string()),
    }
}

fn policy_id(mode: Mode, max_age: u64, hosts: &[&str]) -> String {
    let mut mx: Vec<MxPattern> = hosts.iter().map(|h| pattern(h)).collect();
    mx.sort_unstable();
    let policy = Policy { id: String::new(), mode, mx, max_age };
    let mut hasher = DefaultHasher::new();
    policy.hash(&mut hasher);
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
    ];
    for (label, mode, max_age, hosts) in cases {
        println!("{label}: {}", policy_id(*mode, *max_age, hosts));
    }
}
