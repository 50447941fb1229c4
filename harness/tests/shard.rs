//! Sharding: `--shard K/N --out FILE` on each of N machines, then `sshrace merge`, prints the
//! unsharded command's report byte for byte, in every format, with its exit status; a bad
//! merge (a missing shard, a duplicate, another version or command) exits 2 with one line.

mod common;

use common::{sshrace, text};

use std::path::{Path, PathBuf};
use std::process::Output;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shard-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

/// `args` plus `extra`, run; the output, asserted to exit as `code`.
fn run(args: &[&str], extra: &[&str], code: i32) -> Output {
    let all: Vec<&str> = args.iter().chain(extra).copied().collect();
    let out = sshrace(&all);
    assert_eq!(
        out.status.code(),
        Some(code),
        "sshrace {}\n{}",
        all.join(" "),
        text(&out.stderr)
    );
    out
}

const FORMATS: [&str; 5] = ["table", "markdown", "csv", "json", "junit"];

#[test]
fn merged_shards_print_the_unsharded_matrix_byte_for_byte_for_1_3_and_7_shards() {
    let dir = temp_dir("matrix");
    let matrix = ["matrix", "--seeds", "2"];
    // The unsharded command, in the formats CI reads most.
    let full = path(&dir, "full.json");
    let mut direct = Vec::new();
    for format in ["table", "json", "junit"] {
        let mut extra = vec!["--format", format];
        if format == "table" {
            extra.extend(["--out", &full]);
        }
        direct.push((format, run(&matrix, &extra, 0).stdout));
    }
    let mut splits: Vec<Vec<String>> = vec![vec![full.clone()]];
    for n in [3, 7] {
        let mut files = Vec::new();
        let mut counts = Vec::new();
        for k in 1..=n {
            let file = path(&dir, &format!("s{k}-of-{n}.json"));
            let shard = format!("{k}/{n}");
            let out = run(
                &matrix,
                &["--shard", &shard, "--out", &file, "--format", "csv"],
                0,
            );
            let stderr = text(&out.stderr);
            let line = stderr
                .lines()
                .find(|l| l.starts_with(&format!("sshrace: shard {shard}: ")))
                .unwrap_or_else(|| panic!("no shard line:\n{stderr}"));
            counts.push(line.split(' ').nth(3).unwrap().parse::<usize>().unwrap());
            files.push(file);
        }
        // Balanced: shard sizes differ by at most one run.
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "{n} shards ran {counts:?} runs");
        // Given in any order.
        files.reverse();
        splits.push(files);
    }
    for files in &splits {
        let mut merged_by_format = Vec::new();
        for format in FORMATS {
            let mut args = vec!["merge", "--format", format];
            args.extend(files.iter().map(String::as_str));
            let out = run(&args, &[], 0);
            if let Some((_, expected)) = direct.iter().find(|(f, _)| *f == format) {
                assert!(
                    out.stdout == *expected,
                    "merge of {} file(s) in {format} differs from the unsharded matrix:\n{}\n---\n{}",
                    files.len(),
                    text(&out.stdout),
                    text(expected)
                );
            }
            merged_by_format.push(out.stdout);
        }
        let mut args = vec!["merge", "--format", "markdown"];
        args.extend(splits[0].iter().map(String::as_str));
        assert_eq!(run(&args, &[], 0).stdout, merged_by_format[1]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shard_does_not_judge_expectations_and_the_merge_exits_like_the_unsharded_run() {
    let dir = temp_dir("exit");
    let cmd = [
        "run",
        "max-sessions-one-master",
        "--strategy",
        "cached",
        "--seeds",
        "4",
        "--max-failure-rate",
        "0.01",
    ];
    let unsharded = run(&cmd, &[], 1);
    let (s1, s2) = (path(&dir, "s1.json"), path(&dir, "s2.json"));
    let shard1 = run(&cmd, &["--shard", "1/2", "--out", &s1], 0);
    assert!(
        text(&shard1.stderr).contains("`sshrace merge` judges the whole"),
        "{}",
        text(&shard1.stderr)
    );
    run(&cmd, &["--shard", "2/2", "--out", &s2], 0);
    let merged = run(&["merge", &s2, &s1], &[], 1);
    assert_eq!(merged.stdout, unsharded.stdout);
    assert!(text(&merged.stderr).contains(
        "replay: sshrace replay scenarios/max-sessions-one-master.toml --strategy cached --seed"
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn which_shard_a_run_lands_in_depends_on_neither_jobs_nor_the_flags_spelling() {
    let dir = temp_dir("jobs");
    let cmd = ["run", "agent-flap", "--seeds", "5", "--format", "csv"];
    let (a, b) = (path(&dir, "a.json"), path(&dir, "b.json"));
    run(&cmd, &["--shard", "2/3", "--jobs", "1", "--out", &a], 0);
    let out = common::command()
        .args(cmd)
        .args(["--jobs", "2", "--out", &b])
        .env("SSHRACE_SHARD", "2/3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("shard 2/3: "));
    let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(a == b, "shard 2/3 differs between --jobs 1 and --jobs 2");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `merge args` exits 2 with one line on stderr containing `expected`, and prints nothing.
fn refused(args: &[&str], expected: &str) {
    let mut all = vec!["merge"];
    all.extend(args);
    let out = sshrace(&all);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_merges_exit_2_with_a_one_line_reason() {
    let dir = temp_dir("bad");
    let cmd = ["run", "agent-flap", "--seeds", "4", "--format", "csv"];
    let (s1, s2, s3) = (
        path(&dir, "s1.json"),
        path(&dir, "s2.json"),
        path(&dir, "s3.json"),
    );
    for (k, file) in [(1, &s1), (2, &s2), (3, &s3)] {
        run(&cmd, &["--shard", &format!("{k}/3"), "--out", file], 0);
    }
    refused(&[&s1, &s3], "missing shard 2/3 of 3");
    refused(&[&s1, &s2, &s2, &s3], "shard 2/3 given twice");
    // Another sshrace version.
    let edit = |from: &str, to: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(from).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(to, value.to_string()).unwrap();
    };
    let other = path(&dir, "other.json");
    edit(&s2, &other, &|v| v["version"] = "0.0.0-elsewhere".into());
    refused(
        &[&s1, &other, &s3],
        "was written by sshrace 0.0.0-elsewhere",
    );
    // A seed present twice: shard 2's first run listed again.
    edit(&s2, &other, &|v| {
        let first = v["runs"][0].clone();
        v["runs"].as_array_mut().unwrap().push(first);
    });
    refused(&[&s1, &other, &s3], "present twice");
    // Another command: other seeds.
    let five = path(&dir, "five.json");
    run(
        &["run", "agent-flap", "--seeds", "5", "--format", "csv"],
        &["--shard", "2/3", "--out", &five],
        0,
    );
    refused(&[&s1, &five, &s3], "come from different commands");
    // Not a results file at all.
    let junk = path(&dir, "junk.json");
    std::fs::write(&junk, "{\"rows\": []}").unwrap();
    refused(&[&junk], "not an sshrace results file");
    refused(&[&path(&dir, "absent.json")], "absent.json");
    // The formats merge cannot give, and a shard that cannot be.
    refused(&[&s1, &s2, &s3, "--format", "html"], "merge --format html");
    let out = sshrace(&["run", "agent-flap", "--shard", "4/3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("1 to 3"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sharded_sweep_merges_into_the_same_table_and_chart() {
    let dir = temp_dir("sweep");
    let sweep = [
        "sweep",
        "flood-fresh-connections",
        "--strategy",
        "fresh,pool",
        "--param",
        "workload.tool-calls.burst=1..61:30",
        "--measure",
        "tool-calls",
        "--seeds",
        "3",
    ];
    let direct_svg = path(&dir, "direct.svg");
    let direct = run(&sweep, &["--plot", &direct_svg], 0);
    let mut files = Vec::new();
    for k in 1..=4 {
        let file = path(&dir, &format!("s{k}.json"));
        let out = run(&sweep, &["--shard", &format!("{k}/4"), "--out", &file], 0);
        assert!(out.stdout.is_empty(), "a sweep shard prints no table");
        files.push(file);
    }
    let merged_svg = path(&dir, "merged.svg");
    let mut args = vec!["merge", "--plot", &merged_svg];
    args.extend(files.iter().map(String::as_str));
    let merged = run(&args, &[], 0);
    assert_eq!(text(&merged.stdout), text(&direct.stdout));
    assert!(std::fs::read(&merged_svg).unwrap() == std::fs::read(&direct_svg).unwrap());
    // A shard of a sweep without --out would be lost work.
    let out = sshrace(&[&sweep[..], &["--shard", "1/4"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("needs --out"));
    std::fs::remove_dir_all(&dir).unwrap();
}
