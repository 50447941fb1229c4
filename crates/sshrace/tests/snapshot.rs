//! A row set as a reviewed insta snapshot: stable across machines and thread counts, with
//! nothing in it that changes from run to run (no wall times, trace hashes or paths).

use sshrace::{Check, builtin};

#[test]
fn snapshot_rows_are_a_stable_reviewed_summary() {
    let check = Check::new("pool")
        .also("fresh")
        .scenarios([
            builtin::named("max-startups-retry-storm"),
            builtin::named("max-sessions-one-master"),
        ])
        .seeds(0..3);
    let rows = check.clone().threads(1).run().snapshot_rows();
    assert_eq!(rows, check.threads(3).run().snapshot_rows());
    insta::assert_yaml_snapshot!(rows);
}
