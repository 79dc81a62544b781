//! Holding off Ctrl-C (and its cousins) while files, the index and the answer cache are being
//! written, so that an interrupted sync leaves every file either untouched or stamped and
//! verified, and never a stale `index.lock` behind.
//!
//! The signals are caught, not blocked: a blocked signal would still be delivered to any other
//! thread of the process (a progress display, say) and end the process mid-write. A caught one
//! only sets a flag; when the last guard is dropped the previous handlers come back and the
//! first signal that arrived is raised again, so the process ends as it would have, a moment
//! later.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

const DEFERRED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// The first deferred signal that arrived, or 0.
static ARRIVED: AtomicI32 = AtomicI32::new(0);

/// How many guards are alive, and the handlers to restore when the last one goes.
static STATE: Mutex<(usize, Vec<(libc::c_int, libc::sigaction)>)> = Mutex::new((0, Vec::new()));

extern "C" fn note(signal: libc::c_int) {
    let _ = ARRIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// While alive, the signals above only set a flag.
pub(crate) struct DeferSignals(());

impl DeferSignals {
    pub fn start() -> DeferSignals {
        let mut state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.0 == 0 {
            ARRIVED.store(0, Ordering::SeqCst);
            state.1.clear();
            for signal in DEFERRED {
                // SAFETY: sigaction with a handler that only touches an atomic; the previous
                // disposition is kept to be restored.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = note as extern "C" fn(libc::c_int) as usize;
                    action.sa_flags = libc::SA_RESTART;
                    libc::sigemptyset(&mut action.sa_mask);
                    let mut previous: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(signal, &action, &mut previous) == 0 {
                        state.1.push((signal, previous));
                    }
                }
            }
        }
        state.0 += 1;
        DeferSignals(())
    }
}

impl Drop for DeferSignals {
    fn drop(&mut self) {
        let mut state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.0 -= 1;
        if state.0 > 0 {
            return;
        }
        for (signal, previous) in state.1.drain(..) {
            // SAFETY: restores the disposition saved in start().
            unsafe {
                libc::sigaction(signal, &previous, std::ptr::null_mut());
            }
        }
        let arrived = ARRIVED.swap(0, Ordering::SeqCst);
        drop(state);
        if arrived != 0 {
            // SAFETY: raising a signal in this process, under its restored disposition.
            unsafe {
                libc::raise(arrived);
            }
        }
    }
}
