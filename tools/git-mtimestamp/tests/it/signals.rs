//! The two uses of [`DeferSignals`]: while writing, a signal waits for the last guard and then
//! ends the process; while a child runs, SIGINT is only reported. A signal the process ignores
//! stays ignored.
//!
//! Every case runs in a child, this test binary run again and told which case by an
//! environment variable: a signal raised again ends the process, and a signal's disposition
//! is the whole process's, which the other tests here share (a SIGINT left ignored would be
//! inherited by the tools that the interrupt tests start).

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use git_mtimestamp::DeferSignals;

const CASE: &str = "DEFER_SIGNALS_CASE";

fn raise(signal: libc::c_int) {
    // SAFETY: raising a signal in this process.
    assert_eq!(unsafe { libc::raise(signal) }, 0);
}

fn disposition(signal: libc::c_int) -> libc::sighandler_t {
    // SAFETY: reads the disposition into a zeroed struct, changes nothing.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(signal, std::ptr::null(), &mut current), 0);
        current.sa_sigaction
    }
}

fn set_disposition(signal: libc::c_int, handler: libc::sighandler_t) {
    // SAFETY: sets a default or ignored disposition.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(signal, &action, std::ptr::null_mut()), 0);
    }
}

/// Runs `case` in a child and returns its stdout, the signal that ended it, and whether it
/// exited with success.
fn in_child(case: &str) -> (String, Option<i32>, bool) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "signals::cases_in_a_child", "--nocapture"])
        .env(CASE, case)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    (stdout, output.status.signal(), output.status.success())
}

/// Says how far the case got, where the parent reads it even if the next step ends the process.
fn reached(step: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "reached {step}").unwrap();
    stdout.flush().unwrap();
}

/// Not a test of its own: the body of the cases [`in_child`] runs.
#[test]
fn cases_in_a_child() {
    match std::env::var(CASE).as_deref() {
        // Nested guards: the signal waits for the outer one.
        Ok("writing") => {
            let outer = DeferSignals::while_writing();
            let inner = DeferSignals::while_writing();
            raise(libc::SIGTERM);
            raise(libc::SIGINT);
            drop(inner);
            reached("inner dropped");
            drop(outer);
            reached("outer dropped");
        }
        // A writing guard inside a child's: SIGINT is the writing guard's to raise.
        Ok("overlapping") => {
            let child = DeferSignals::while_child_runs();
            let writing = DeferSignals::while_writing();
            raise(libc::SIGINT);
            assert_eq!(child.finish(), None);
            reached("child's guard finished");
            drop(writing);
            reached("writing guard dropped");
        }
        // SIGINT while a child runs is only reported; one the process ignores stays ignored.
        Ok("child runs") => {
            let guard = DeferSignals::while_child_runs();
            raise(libc::SIGINT);
            assert_eq!(guard.finish(), Some(libc::SIGINT));
            assert_eq!(disposition(libc::SIGINT), libc::SIG_DFL);

            let guard = DeferSignals::while_child_runs();
            assert_eq!(guard.finish(), None, "nothing arrived");

            set_disposition(libc::SIGINT, libc::SIG_IGN);
            let guard = DeferSignals::while_child_runs();
            assert_eq!(disposition(libc::SIGINT), libc::SIG_IGN);
            raise(libc::SIGINT);
            assert_eq!(guard.finish(), None);
            assert_eq!(disposition(libc::SIGINT), libc::SIG_IGN);
            reached("the end");
        }
        _ => {}
    }
}

#[test]
fn a_signal_while_writing_ends_the_process_when_the_last_guard_goes() {
    let (stdout, signal, _) = in_child("writing");
    // The first signal that arrived, not the last.
    assert_eq!(signal, Some(libc::SIGTERM), "{stdout}");
    assert_eq!(stdout.matches("reached").count(), 1, "{stdout}");
    assert!(stdout.contains("reached inner dropped"), "{stdout}");

    let (stdout, signal, _) = in_child("overlapping");
    assert_eq!(signal, Some(libc::SIGINT), "{stdout}");
    assert!(
        stdout.contains("reached child's guard finished"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("reached writing guard dropped"),
        "{stdout}"
    );
}

#[test]
fn while_a_child_runs_sigint_is_reported_and_an_ignored_one_stays_ignored() {
    let (stdout, signal, success) = in_child("child runs");
    assert_eq!(signal, None, "{stdout}");
    assert!(success, "{stdout}");
    assert!(stdout.contains("reached the end"), "{stdout}");
}
