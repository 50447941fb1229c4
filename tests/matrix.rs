//! The built-in matrix at a fixed seed set, as a reviewed insta snapshot: any change in any
//! cell (a failure count, an outcome, a connection count) fails CI until it is reviewed with
//! `cargo insta review` and the commit message says why. CI runs with INSTA_UPDATE=no.

use sshrace_runner::report::{Format, render};
use sshrace_tests::matrix_rows;

#[test]
fn builtin_matrix_at_seeds_0_and_1() {
    let rows = matrix_rows(&[0, 1]);
    for row in &rows {
        assert!(
            !row.breaks_expectation(),
            "{} / {} breaks its expectation: {:.3} > {:?}",
            row.scenario,
            row.strategy,
            row.failure_rate,
            row.max_failure_rate
        );
    }
    insta::assert_snapshot!(render(&rows, Format::Table));
}
