//! The README's "Use it in your own tests" example is a copy of the crate's first doc example,
//! which `cargo test` compiles and runs: this keeps the copy from drifting.

/// The lines of the first fenced block opened by exactly `fence` (e.g. "```rust") after the
/// line `after`; blocks opened otherwise (e.g. "```toml") are skipped whole.
fn block<'a>(lines: &[&'a str], after: &str, fence: &str) -> Vec<&'a str> {
    let mut at = lines.iter().position(|l| *l == after).expect("heading") + 1;
    loop {
        let open = at
            + lines[at..]
                .iter()
                .position(|l| l.starts_with("```"))
                .expect("a block");
        let close = open
            + 1
            + lines[open + 1..]
                .iter()
                .position(|l| *l == "```")
                .expect("its end");
        if lines[open] == fence {
            return lines[open + 1..close].to_vec();
        }
        at = close + 1;
    }
}

#[test]
fn readme_example_is_the_first_doc_example() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let lib = std::fs::read_to_string(format!("{root}/crates/sshrace/src/lib.rs")).unwrap();
    let docs: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let readme: Vec<&str> = readme.lines().collect();
    let documented = block(
        &docs,
        "# sshrace: race-test your SSH connection strategy in `cargo test`",
        "```",
    );
    assert!(
        documented.iter().all(|l| !l.starts_with("# ")),
        "no hidden lines"
    );
    assert_eq!(
        block(&readme, "## Use it in your own tests", "```rust").join("\n"),
        documented.join("\n"),
        "README.md's example differs from the first example in crates/sshrace/src/lib.rs: copy it"
    );
}
