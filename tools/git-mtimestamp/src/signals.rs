//! Holding off signals while the process must not end yet. One mechanism, two uses:
//!
//! - [`DeferSignals::while_writing`]: while a sync writes files, the index and the answer
//!   cache, Ctrl-C (and its cousins) waits, so that an interrupted sync leaves every file
//!   either untouched or stamped and verified, and never a stale `index.lock` behind. When the
//!   last such guard is dropped, the first signal that arrived is raised again, so the process
//!   ends as it would have, a moment later.
//! - [`DeferSignals::while_child_runs`]: while `cargo xtask` waits for a command it runs.
//!   The terminal sends Ctrl-C to the whole foreground process group, so the child gets its
//!   own SIGINT; the parent must outlive it to report how it ended. Nothing is raised again:
//!   [`DeferSignals::finish`] tells whether SIGINT arrived.
//!
//! The signals are caught, not blocked: a blocked signal would still be delivered to any other
//! thread of the process (a progress display, say) and end the process mid-write. Nor are they
//! ignored: an ignored signal stays ignored in a child across exec, a caught one is reset to
//! the default there. A caught signal only notes that it arrived. A signal the process already
//! ignores (under nohup, or in a shell's background job) is left ignored.
//!
//! Guards may overlap, in one thread or several: each signal is caught from the first guard
//! that holds it off until the last one that does is dropped, and that last one learns whether
//! it arrived.

use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use libc::c_int;

/// What ends a process from a terminal or a service manager.
const WHILE_WRITING: [c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// What the terminal sends to the child as well. The others still end the parent at once.
const WHILE_CHILD_RUNS: [c_int; 1] = [libc::SIGINT];

/// For each signal number, 0, or when it arrived while caught: how many caught signals had
/// arrived before, plus one. Every signal above is below 32.
static ARRIVED: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];

/// How many caught signals have arrived, to order them.
static ARRIVALS: AtomicU32 = AtomicU32::new(0);

/// The signals caught now: how many guards hold each off, and its disposition before.
static CAUGHT: Mutex<Vec<Caught>> = Mutex::new(Vec::new());

struct Caught {
    signal: c_int,
    guards: usize,
    previous: libc::sigaction,
}

extern "C" fn note(signal: c_int) {
    // Only atomics: async-signal-safe.
    let order = ARRIVALS.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
    if let Some(arrived) = usize::try_from(signal).ok().and_then(|s| ARRIVED.get(s)) {
        let _ = arrived.compare_exchange(0, order, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// While alive, the signals it holds off only note that they arrived. See the module's
/// documentation for its two uses.
#[must_use = "signals are held off only while the guard is alive"]
pub struct DeferSignals {
    /// The signals this guard holds off: those asked for that the process did not ignore.
    signals: Vec<c_int>,
    /// Whether dropping the guard raises the first signal that arrived again.
    raise_on_drop: bool,
}

impl DeferSignals {
    /// Holds off SIGINT, SIGTERM, SIGHUP and SIGQUIT; when the last guard that holds one off
    /// is dropped, the first that arrived is raised again.
    pub fn while_writing() -> DeferSignals {
        DeferSignals::hold(&WHILE_WRITING, true)
    }

    /// Holds off SIGINT, which the terminal also sends to the child being waited for; say
    /// with [`DeferSignals::finish`] whether it arrived. Dropped unfinished (on an error), it
    /// raises nothing either.
    pub fn while_child_runs() -> DeferSignals {
        DeferSignals::hold(&WHILE_CHILD_RUNS, false)
    }

    /// Ends the guard without raising anything, and returns the first signal that arrived
    /// while it held signals off, if no other guard still holds that signal off.
    pub fn finish(mut self) -> Option<c_int> {
        self.release()
    }

    /// Whether a signal this guard holds off has arrived. It is still raised again (or told
    /// by [`DeferSignals::finish`]) when the guard ends.
    pub fn arrived(&self) -> bool {
        self.signals
            .iter()
            .any(|&signal| ARRIVED[signal as usize].load(Ordering::SeqCst) != 0)
    }

    fn hold(signals: &[c_int], raise_on_drop: bool) -> DeferSignals {
        let mut caught = lock_caught();
        let mut held = Vec::with_capacity(signals.len());
        for &signal in signals {
            if let Some(known) = caught.iter_mut().find(|c| c.signal == signal) {
                known.guards += 1;
                held.push(signal);
                continue;
            }
            ARRIVED[signal as usize].store(0, Ordering::SeqCst);
            // SAFETY: sigaction with zero-initialised structs and a handler that only touches
            // atomics; the previous disposition is kept, to be restored.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = note as extern "C" fn(c_int) as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut previous) != 0 {
                    continue;
                }
                if previous.sa_sigaction == libc::SIG_IGN {
                    libc::sigaction(signal, &previous, ptr::null_mut());
                    continue;
                }
                caught.push(Caught {
                    signal,
                    guards: 1,
                    previous,
                });
            }
            held.push(signal);
        }
        DeferSignals {
            signals: held,
            raise_on_drop,
        }
    }

    /// Lets go of this guard's signals; those no other guard holds off get their previous
    /// disposition back. Returns the first of those that arrived meanwhile.
    fn release(&mut self) -> Option<c_int> {
        let mut caught = lock_caught();
        let mut first: Option<(u32, c_int)> = None;
        for signal in std::mem::take(&mut self.signals) {
            let Some(at) = caught.iter().position(|c| c.signal == signal) else {
                continue;
            };
            caught[at].guards -= 1;
            if caught[at].guards > 0 {
                continue;
            }
            let Caught { previous, .. } = caught.swap_remove(at);
            // SAFETY: restores the disposition saved in hold().
            unsafe {
                libc::sigaction(signal, &previous, ptr::null_mut());
            }
            let order = ARRIVED[signal as usize].swap(0, Ordering::SeqCst);
            if order != 0 && first.is_none_or(|(earliest, _)| order < earliest) {
                first = Some((order, signal));
            }
        }
        first.map(|(_, signal)| signal)
    }
}

impl Drop for DeferSignals {
    fn drop(&mut self) {
        let arrived = self.release();
        if let Some(signal) = arrived.filter(|_| self.raise_on_drop) {
            // SAFETY: raising a signal in this process, under its restored disposition.
            unsafe {
                libc::raise(signal);
            }
        }
    }
}

fn lock_caught() -> std::sync::MutexGuard<'static, Vec<Caught>> {
    CAUGHT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
