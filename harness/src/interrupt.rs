//! SIGINT and SIGTERM during `run` and `matrix`: stop starting runs, print the rows
//! of the runs that finished (marked incomplete) and the command that reruns everything, remove
//! this process's containers and run folders, and exit 128 + the signal (130, 143).
//!
//! The handler only stores the signal number (async-signal-safe); a watcher thread does the
//! rest, so nothing here runs inside a signal handler.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::SeqCst);
}

/// The signal that asked to stop, if one has.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// What the watcher does on a signal: print what finished, clean up. Set by the command once
/// its runs start.
type OnStop = Box<dyn Fn(i32) + Send>;

static ON_STOP: Mutex<Option<OnStop>> = Mutex::new(None);

/// Catch SIGINT and SIGTERM from now on; on one, call `on_stop` (from a watcher thread) and
/// exit with 128 + the signal.
pub fn install(on_stop: impl Fn(i32) + Send + 'static) {
    *ON_STOP.lock().expect("interrupt lock") = Some(Box::new(on_stop));
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    std::thread::spawn(|| {
        loop {
            if let Some(signal) = requested() {
                if let Some(on_stop) = ON_STOP.lock().expect("interrupt lock").as_ref() {
                    on_stop(signal);
                }
                std::process::exit(128 + signal);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

/// Once a stop was asked for, never return: the watcher prints what finished, cleans up and
/// exits with 128 + the signal, which the command must not race by finishing first.
pub fn park_if_stopping() {
    if requested().is_some() {
        loop {
            std::thread::park();
        }
    }
}

/// `SIGINT` or `SIGTERM`.
pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The command line that was typed, quoted for a POSIX shell where needed.
pub fn rerun_command() -> String {
    std::env::args()
        .enumerate()
        .map(|(index, arg)| {
            if index == 0 {
                return "sshrace".to_owned();
            }
            if !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                arg
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
