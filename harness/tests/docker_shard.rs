//! A sharded container matrix: `--backend docker --shard 1/2` and `2/2` on two scenarios, each
//! with `--out`, merge into one report of every cell, and no container is left behind.

mod common;

use common::{sshrace, text};

use std::process::Command;

use sshrace_docker::image::{OpenSshProfile, ensure_image};
use sshrace_docker::preflight::require_docker;

fn left_behind() -> String {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=sshrace=1"])
        .output()
        .expect("docker ps");
    text(&out.stdout).trim().to_owned()
}

#[test]
fn a_sharded_container_matrix_merges_into_one_report_and_leaves_no_container() {
    if !require_docker() {
        return;
    }
    ensure_image(OpenSshProfile::OpenSsh92, &mut |line| {
        eprintln!("image: {line}")
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("shard-docker-{}", std::process::id()));
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/scenarios");
    for name in ["docker-flood.toml", "docker-swallowed-error.toml"] {
        std::fs::copy(format!("{root}/{name}"), scenarios.join(name)).unwrap();
    }
    let scenarios = scenarios.to_str().unwrap().to_owned();
    let mut files = Vec::new();
    for k in 1..=2 {
        let file = dir
            .join(format!("shard-{k}.json"))
            .to_str()
            .unwrap()
            .to_owned();
        let shard = format!("{k}/2");
        let out = sshrace(&[
            "matrix",
            "--scenarios",
            &scenarios,
            "--backend",
            "docker",
            "--seeds",
            "1",
            "--format",
            "csv",
            "--shard",
            &shard,
            "--out",
            &file,
        ]);
        let stderr = text(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0)),
            "shard {shard}:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("shard {shard}: 2 of 4 runs")),
            "{stderr}"
        );
        assert_eq!(left_behind(), "", "shard {shard} left containers behind");
        files.push(file);
    }
    let out = sshrace(&["merge", &files[1], &files[0], "--format", "csv"]);
    let stderr = text(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    let csv = text(&out.stdout);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "one row per cell:\n{csv}");
    for (scenario, strategy) in [
        ("docker-flood", "fresh"),
        ("docker-flood", "pool"),
        ("docker-swallowed-error", "swallow"),
        ("docker-swallowed-error", "propagate"),
    ] {
        assert!(
            rows.iter().any(|row| row.starts_with(&format!(
                "{scenario},{strategy},docker-openssh-9.2,1,"
            ))),
            "no row {scenario},{strategy} of one run:\n{csv}"
        );
    }
    assert_eq!(left_behind(), "");
    std::fs::remove_dir_all(&dir).unwrap();
}
