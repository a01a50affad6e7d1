//! The bench proves it can fail: runs in which the driver must report failure, each with the
//! exact counts it must report. Told to expect a wrong output of one instance (on the open and
//! closed loop's checks and on the timer's derived output), the driver must find exactly that
//! one wrong result; against the RPC floor handing out every first turn twice, it must count
//! three duplicate dispatches per instance (the turn, then the activity and the second turn
//! the doubled answer causes). Part of the test pipeline's tiny bench.

use super::deploy::Deployment;
use super::driver::{self, Outcome};
use super::plan::{Case, case, words};
use super::server::{Backend, Launcher};
use anyhow::{Result, bail};
use std::path::Path;

/// Instances per self-test run.
const N: usize = 5;

/// A run that must fail, and how.
struct SelfTest {
    case: Case,
    backend: Backend,
    /// Instances the driver must find in a wrong state.
    wrong: usize,
    /// Duplicate dispatches the driver must count.
    duplicates: usize,
}

fn self_tests() -> Vec<SelfTest> {
    let expect_wrong = |workload: &str, mode: &str| SelfTest {
        case: case(
            &format!("selftest-wrong-{workload}-{mode}"),
            format!("self-test: {workload} {mode}, one expectation wrong"),
            &format!("--workload {workload} --mode {mode} --n {N} --expect-wrong"),
        ),
        backend: Backend::Ours,
        wrong: 1,
        duplicates: 0,
    };
    let mut duplicated = case(
        "selftest-duplicates",
        "self-test: hello open on a floor that dispatches each first turn twice".to_owned(),
        &format!("--workload hello --n {N}"),
    );
    duplicated.server_args = words("--duplicate-first-turn");
    vec![
        expect_wrong("hello", "open"),
        expect_wrong("hello", "closed"),
        expect_wrong("timer", "open"),
        SelfTest {
            case: duplicated,
            backend: Backend::Floor,
            wrong: 0,
            duplicates: 3 * N,
        },
    ]
}

/// Whether `outcome` is exactly the failure `test` must produce: every instance finished, and
/// the only errors are the predicted wrong results and duplicates.
fn failed_as_predicted(test: &SelfTest, outcome: &Outcome) -> bool {
    !outcome.ok
        && outcome.completed == outcome.n
        && outcome.wrong == test.wrong
        && outcome.duplicates == test.duplicates
        && outcome.errors == test.wrong + test.duplicates
}

/// Runs every self-test (the driver quiet, since its errors are the point); fails unless each
/// run failed exactly as predicted.
pub(crate) fn run(launcher: &Launcher, bench: &Path) -> Result<()> {
    let mut unexpected = Vec::new();
    for test in self_tests() {
        let (case, backend) = (&test.case, test.backend);
        let log_name = format!("{}-{}", case.key, backend.name());
        let outcome = Deployment::start(launcher, backend, &case.server_args, &log_name)
            .and_then(|server| driver::run(bench, &server, case, &case.label, true));
        let status = match &outcome {
            Ok(o) if failed_as_predicted(&test, o) => format!(
                "failed as it must ({} wrong, {} duplicates)",
                o.wrong, o.duplicates
            ),
            Ok(o) => {
                unexpected.push(case.label.clone());
                format!(
                    "UNEXPECTED (ok {}, {}/{} done, {} wrong, {} duplicates, {} errors; \
                     predicted {} wrong, {} duplicates; errors: {:?})",
                    o.ok,
                    o.completed,
                    o.n,
                    o.wrong,
                    o.duplicates,
                    o.errors,
                    test.wrong,
                    test.duplicates,
                    o.error_samples
                )
            }
            Err(e) => {
                unexpected.push(case.label.clone());
                format!("UNEXPECTED (no result: {e:#})")
            }
        };
        println!("{status:>45}  {} [{}]", case.label, backend.name());
    }
    if !unexpected.is_empty() {
        bail!(
            "the bench did not fail as predicted in: {}",
            unexpected.join("; ")
        );
    }
    Ok(())
}
