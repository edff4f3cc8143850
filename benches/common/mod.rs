//! What the benchmarks share: a generated school imported once into SQLite (cached under the
//! target folder), and medians of timed runs after one warm-up.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use rollcall::config::Config;
use rollcall::generate::{GenerateOptions, generate};
use rollcall::register::import::{MarksImport, import_contacts, import_marks, import_pupils};
use rollcall::register::store::Store;

pub const SEED: u64 = 2025;
pub const YEAR: i32 = 2025;

pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The median of `runs` runs of `f`, in seconds, after one warm-up run (the page cache and
/// SQLite's statement cache are warm for everyone).
pub async fn time<F, Fut, T>(runs: usize, mut f: F) -> Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    f().await?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(f().await?);
        samples.push(started.elapsed().as_secs_f64());
    }
    Ok(median(samples))
}

/// Generates a school of `pupils` into `dir` and imports its pupils, marks and (when asked)
/// contacts, once: a later run finds `imported.ok` and reuses it.
pub async fn prepare(dir: &Path, pupils: usize, contacts: bool) -> Result<()> {
    if dir.join("imported.ok").exists() {
        return Ok(());
    }
    eprintln!(
        "generating and importing {pupils} pupils into {} …",
        dir.display()
    );
    generate(&GenerateOptions::new(pupils, SEED, YEAR), dir)?;
    let config = Config::load(&dir.join("rollcall.toml"))?;
    let school = config.school(None)?;
    let store = Store::connect(&config.database_url).await?;
    let id = store.ensure_school(school).await?;
    import_pupils(&store, id, &dir.join("pupils.csv")).await?;
    if contacts {
        import_contacts(&store, id, &dir.join("contacts.csv")).await?;
    }
    let options = MarksImport {
        progress: false,
        ..MarksImport::default()
    };
    import_marks(
        &store,
        id,
        &school.calendar,
        &dir.join("marks.csv"),
        &options,
    )
    .await?;
    std::fs::write(dir.join("imported.ok"), "")?;
    Ok(())
}
