//! SIG(0) test server: one zone, updates allowed only with a valid SIG(0).
//!
//! Usage: sig0-test-server ZONE [KEYNAME KEY-RDATA-HEX]...
//!
//! Serves ZONE (SOA, NS, ns A 127.0.0.1) on 127.0.0.1, UDP and TCP on the same
//! port chosen by the kernel, registers each KEY with `add_update_auth_key()`
//! and prints `READY <port>` on stdout. trust-dns-server's SqliteAuthority
//! (in memory, no journal) REFUSES any update without a SIG(0) that verifies
//! against a KEY at its signer name; it does not check the validity window.

use std::{
    collections::BTreeMap, io::Write, net::Ipv4Addr, str::FromStr, sync::Arc, time::Duration,
};

use tokio::net::{TcpListener, UdpSocket};
use trust_dns_server::{
    authority::{Catalog, DnssecAuthority, ZoneType},
    client::rr::{LowerName, RrKey},
    proto::{
        rr::{dnssec::rdata::key, rdata::SOA, Name, RData, Record, RecordSet},
        serialize::binary::{BinDecoder, Restrict},
    },
    store::{in_memory::InMemoryAuthority, sqlite::SqliteAuthority},
    ServerFuture,
};

fn hex_decode(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd-length hex");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("bad hex"))
        .collect()
}

fn zone_records(origin: &Name) -> BTreeMap<RrKey, RecordSet> {
    let ns = Name::from_str("ns").unwrap().append_domain(origin).unwrap();
    let admin = Name::from_str("hostmaster")
        .unwrap()
        .append_domain(origin)
        .unwrap();
    let records = vec![
        Record::from_rdata(
            origin.clone(),
            3600,
            RData::SOA(SOA::new(ns.clone(), admin, 1, 3600, 600, 86400, 60)),
        ),
        Record::from_rdata(origin.clone(), 3600, RData::NS(ns.clone())),
        Record::from_rdata(ns, 3600, RData::A(Ipv4Addr::LOCALHOST)),
    ];
    let mut map = BTreeMap::new();
    for record in records {
        let key = RrKey::new(LowerName::new(record.name()), record.rr_type());
        map.entry(key)
            .or_insert_with(|| RecordSet::new(record.name(), record.rr_type(), 1))
            .insert(record, 1);
    }
    map
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        !args.is_empty() && args.len() % 2 == 1,
        "usage: sig0-test-server ZONE [KEYNAME KEY-RDATA-HEX]..."
    );
    let origin = Name::from_str(&args[0]).expect("bad zone name");
    let in_memory = InMemoryAuthority::new(
        origin.clone(),
        zone_records(&origin),
        ZoneType::Primary,
        false,
    )
    .expect("zone");
    let authority = SqliteAuthority::new(in_memory, true, false);
    for pair in args[1..].chunks(2) {
        let name = Name::from_str(&pair[0]).expect("bad key name");
        let rdata = hex_decode(&pair[1]);
        let mut decoder = BinDecoder::new(&rdata);
        let key =
            key::read(&mut decoder, Restrict::new(rdata.len() as u16)).expect("bad KEY rdata");
        authority
            .add_update_auth_key(name, key)
            .await
            .expect("add_update_auth_key");
    }

    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), Box::new(Arc::new(authority)));
    let mut server = ServerFuture::new(catalog);

    // UDP and TCP on one kernel-chosen port; retry if TCP's is taken.
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let port = udp.local_addr().unwrap().port();
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5));
    println!("READY {port}");
    std::io::stdout().flush().unwrap();
    server.block_until_done().await.expect("server");
}
