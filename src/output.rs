//! Writing to the terminal without panicking. `println!` and `eprintln!` panic when the
//! stream is closed (`rollcall stats | head`, a service started with stderr closed) or full
//! (`> /dev/full`, a full disk under a log file); a command must then fail with its exit
//! code, or carry on, but never die with exit 101.

/// `println!` that hands back the write's error: `say!(…)?` ends the command, and `main`
/// treats a closed pipe as success and anything else as failure.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// A note for the person at the terminal on stderr; if stderr is closed there is no one to
/// tell, and that is not a reason to fail the command.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `println!` for code that narrates as it goes (the demo), where a reader who closed the
/// pipe should not stop the work: the line is dropped instead of panicking. Imported by
/// name, it replaces the standard macro in that module.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` to go with [`println!`].
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub(crate) use {note, print, println, say};
