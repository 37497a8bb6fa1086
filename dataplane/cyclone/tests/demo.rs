//! The in-memory demo accounts for every datagram, and replays exactly from its seed.

use cyclone::demo::{run, DemoArgs, DemoError};

fn args(seed: u64, name: &str) -> DemoArgs {
    DemoArgs {
        datagrams: 5_000,
        payload: 256,
        drop: 0.03,
        duplicate: 0.02,
        reorder: 0.03,
        corrupt: 0.01,
        seed,
        pcap: std::env::temp_dir().join(format!(
            "cyclone-demo-test-{}-{name}.pcap",
            std::process::id()
        )),
    }
}

#[test]
fn every_datagram_is_accounted_for_and_the_run_replays() {
    let a = args(7, "a");
    let first = run(&a).expect("demo runs");
    let again = run(&a).expect("demo runs");
    let _ = std::fs::remove_file(&a.pcap);
    assert_eq!(first, again, "the same seed gives the same run");

    assert_eq!(first.sent, 5_000);
    assert_eq!(
        first.received_frames,
        first.sent - first.fault_dropped + first.fault_duplicated
    );
    assert_eq!(
        first.pcap_frames, first.received_frames,
        "the capture sees what reaches the wire"
    );
    assert_eq!(first.delivered + first.missing, first.sent);
    assert_eq!(
        first.received_frames,
        first.delivered + first.duplicates + first.rejected
    );
    // A duplicate whose copy was also corrupted is rejected rather than counted twice.
    assert!(first.duplicates <= first.fault_duplicated);
    assert!(first.duplicates + first.rejected >= first.fault_duplicated);
    assert!(
        first.rejected <= first.fault_corrupted,
        "only corrupted frames are rejected"
    );
    assert!(first.fault_dropped > 0 && first.fault_duplicated > 0 && first.fault_corrupted > 0);
    assert!(
        first.out_of_order > 0,
        "reordering is visible to the receiver"
    );

    let b = args(8, "b");
    let other = run(&b).expect("demo runs");
    let _ = std::fs::remove_file(&b.pcap);
    assert_ne!(first, other, "another seed gives another run");
}

#[test]
fn a_clean_link_delivers_everything_in_order() {
    let mut a = args(1, "clean");
    (a.drop, a.duplicate, a.reorder, a.corrupt) = (0.0, 0.0, 0.0, 0.0);
    let report = run(&a).expect("demo runs");
    let _ = std::fs::remove_file(&a.pcap);
    assert_eq!(
        (report.delivered, report.missing, report.out_of_order),
        (5_000, 0, 0)
    );
}

#[test]
fn bad_settings_are_refused_with_a_message() {
    let mut a = args(1, "bad");
    a.payload = 4;
    assert!(matches!(run(&a), Err(DemoError::Config(m)) if m.contains("--payload")));
    let mut a = args(1, "bad2");
    a.drop = 1.5;
    assert!(matches!(run(&a), Err(DemoError::Faults(_))));
    let mut a = args(1, "bad3");
    a.pcap = "/nonexistent-dir/x.pcap".into();
    assert!(matches!(run(&a), Err(DemoError::CaptureFile { .. })));
}
