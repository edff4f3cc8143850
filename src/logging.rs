//! Logs go to stderr: readable on a terminal, JSON lines otherwise (journald, files).
//! Commands log warnings only unless `RUST_LOG` says otherwise.
//!
//! Debug and trace must be safe to turn on at a school: rollcall's own events carry ids,
//! counts and job names, never a pupil's or a family's details, and the dependencies that
//! would log personal data are silenced here at every level, whatever `RUST_LOG` asks for
//! (a more specific `RUST_LOG=handlebars::render=trace` cannot turn them back on, because
//! this filter is a separate layer that sees every event after `RUST_LOG`'s).
//!
//! What the dependencies log, as checked for this version (tests/privacy_logs.rs runs the
//! whole path at `trace` and looks for the pupil's and family's details in the output):
//! - handlebars logs each helper's parameters at debug (`Rendering helper: each, params:
//!   [...]`): the whole template context, which is every pupil's name, date of birth, contacts,
//!   addresses and phone numbers. A school's own template could also `{{log}}` anything at
//!   any level. Silenced.
//! - sqlx logs each statement at debug (`sqlx::query`): the SQL text with its `$1` placeholders,
//!   never the bound values; rollcall never writes a value into SQL text. Left on.
//! - lettre is built without its `tracing` feature and logs nothing; reqwest and hyper log
//!   connection events (host, port) at debug/trace, never headers or bodies (HTTP/2, whose
//!   frame logging is more talkative, is not compiled in). Left on.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Log targets (and everything under them) dropped at every level, whatever `RUST_LOG` says.
pub const SILENCED_TARGETS: &[&str] = &["handlebars"];

/// Whether events from `target` are dropped (see [`SILENCED_TARGETS`]).
pub fn is_silenced(target: &str) -> bool {
    SILENCED_TARGETS.iter().any(|silenced| {
        target
            .strip_prefix(silenced)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Installs the process's logger: `RUST_LOG` (default `warn`), less [`SILENCED_TARGETS`].
/// `log` records (handlebars uses `log`) are routed through the same filters.
pub fn init() {
    let from_env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let privacy = filter_fn(|metadata| !is_silenced(metadata.target()));
    let registry = tracing_subscriber::registry().with(from_env).with(privacy);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // A second logger (a test harness that set one) is not worth failing a command for.
    let _ = if std::io::stderr().is_terminal() {
        registry.with(layer).try_init()
    } else {
        registry.with(layer.json()).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlebars_and_its_modules_are_silenced_and_nothing_else() {
        assert!(is_silenced("handlebars"));
        assert!(is_silenced("handlebars::render"));
        assert!(is_silenced("handlebars::helpers::helper_log"));
        assert!(!is_silenced("handlebarsish"));
        assert!(!is_silenced("rollcall::delivery::template"));
        assert!(!is_silenced("sqlx::query"));
    }
}
