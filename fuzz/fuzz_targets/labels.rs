//! The labels CSV reader (and through it the User-Agent parser) on
//! arbitrary bytes: labels or a typed error, never a panic. The same bytes
//! are also parsed as one User-Agent, and a SYN from a labelled address gets
//! a verdict against its label's OS and against those bytes as a User-Agent.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use synprint::classify::{
    os_from_user_agent, read_labels, verdict, verdict_for_os, verdict_for_user_agent_reading,
    Joined, Model,
};
use synprint::craft::Stack;
use synprint::packet::{decode_ip, Timestamp};

fuzz_target!(|data: &[u8]| {
    if let Ok(ua) = std::str::from_utf8(data) {
        let _ = os_from_user_agent(ua);
    }
    let labels = match read_labels(data, Path::new("fuzz.csv")) {
        Ok(l) => l,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(labels.len() <= labels.rows);
    assert!(labels.without_os <= labels.rows);
    static MODEL: OnceLock<Model> = OnceLock::new();
    let model = MODEL.get_or_init(|| Model::builtin().expect("the built-in model loads"));
    // A SYN from 192.0.2.1:40000, the first address a seed labels.
    let v4 = |d| IpAddr::V4(Ipv4Addr::new(192, 0, 2, d));
    let p = Stack::Windows.syn(v4(1), 40000, v4(2), 443, 1);
    let Ok(Some(obs)) = decode_ip(Timestamp(1), &p.ip_bytes()) else {
        return;
    };
    if let Joined::First(label) = labels.join(&obs, &mut Default::default()) {
        let c = model.classify(&obs, None);
        if let Some(reading) = label.user_agent {
            let _ = verdict_for_user_agent_reading(&c, reading, &obs, None);
        }
        let _ = verdict_for_os(&c, label.os, &obs, None);
        let _ = verdict(&c, std::str::from_utf8(data).ok(), &obs, None);
    }
});
