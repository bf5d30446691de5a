//! The shared fixture captures (`../shared/fixtures/*.pcap*`, next to the
//! repository; never copied into it), decoded by synprint and by tshark:
//! every SYN and SYN+ACK must agree field by field.

mod common;
mod shared_fixtures;
mod skipped;

#[test]
fn shared_fixtures_agree_with_tshark() {
    let Some(files) = shared_fixtures::captures() else {
        return;
    };
    if common::tshark_missing() {
        return;
    }
    for path in files {
        let n = common::compare_with_tshark(&path);
        eprintln!("{}: {n} SYN/SYN+ACK agree with tshark", path.display());
    }
}
