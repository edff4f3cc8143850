use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

use rollcall::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // `rollcall stats … | head` closes the pipe early; that is not a failure.
        Err(e)
            if e.chain().any(|c| {
                let kind = c
                    .downcast_ref::<std::io::Error>()
                    .map(std::io::Error::kind)
                    .or_else(|| {
                        c.downcast_ref::<serde_json::Error>()
                            .and_then(|j| j.io_error_kind())
                    });
                kind == Some(std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) if e.is::<rollcall::daemon::HeldElsewhere>() => {
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::from(rollcall::daemon::HeldElsewhere::EXIT_CODE)
        }
        Err(e) => {
            // Import errors are already a readable multi-line list; others get their causes.
            // A closed or full stderr leaves nobody to tell; the exit code still says it.
            let mut stderr = std::io::stderr().lock();
            let _ = match e.downcast_ref::<rollcall::register::import::ImportError>() {
                Some(import) => write!(stderr, "error: {import}"),
                None => writeln!(stderr, "error: {e:#}"),
            };
            ExitCode::FAILURE
        }
    }
}

/// See [`rollcall::logging`]: debug and trace are safe to turn on at a school.
fn init_logging() {
    rollcall::logging::init();
}
