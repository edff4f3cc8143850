//! The store's side of the incremental pass's certificates (see [`crate::escalation::quiet`]):
//! which rows a run reads when it leaves certified pupils out, and what a register write does
//! to a certificate.

use anyhow::Result;

use sqlx::AssertSqlSafe;

use super::{Backend, Merge, YearWrite, connection_backend, multi_row_sql};

/// Which pupils an incremental escalation run leaves out: those whose certificate (see
/// [`crate::escalation::quiet`]) was made under the same policy and calendar, still runs
/// today, and whose register has a mark for every session closed by now.
#[derive(Debug, Clone)]
pub struct LeaveOut {
    pub basis: i64,
    pub today: String,
    pub year: i64,
    /// The year's closed sessions, and the last one's slot.
    pub closed: i64,
    pub last_closed: i64,
    /// The pupils the run evaluates, once it has read who they are: the run's other reads
    /// then seek these pupils' rows instead of scanning every row and checking its
    /// certificate (most pupils are left out).
    pub evaluated: Option<Vec<i64>>,
    /// How the reads write the list: PostgreSQL plans a list of literals for longer than it
    /// runs it.
    pub backend: Backend,
}

/// Whether a run that evaluates `evaluated` of the school's `roll` pupils lists them in its
/// reads (see [`LeaveOut::evaluated`]) rather than testing every row's certificate: up to
/// 30,000 pupils, or a fifth of the roll if that is more. At 1,000,000 pupils on PostgreSQL,
/// 38,483 pupils' register years read in 0.39-0.53 s listed against 1.70-3.27 s by
/// certificate, and 200,000 random pupils' in 0.94 s: a fixed 30,000 left a trust's morning
/// run scanning every table (11.8 s instead of 6.1-7.0 s).
pub fn lists_evaluated(evaluated: usize, roll: usize) -> bool {
    evaluated <= (roll / 5).max(30_000)
}

/// Rows per statement for statements that carry their values as literals.
pub(crate) const LITERAL_ROWS: usize = 5_000;

/// `1, 2, 3`: row ids written into a statement. Ids are listed as literals, not bound: SQLite
/// resolves each `$n` placeholder by searching those before it, so a statement with thousands
/// of them spends longer parsing than running (reading 9,340 pupils' rows: 0.72 s bound,
/// 0.19 s as literals). An integer cannot carry SQL.
pub(crate) fn integer_list(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 8);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&id.to_string());
    }
    out
}

/// Forgets the certificates of `pupils` (see [`crate::escalation::quiet`]), moving their stamps,
/// in `tx`: for writers that forget their rows' pupils once per statement instead of by the
/// row triggers of the tables they write (`record`'s decisions, outbox items and stage
/// memory; see `migrations/*/20261211090017_quiet_forgotten_by_record.sql`).
pub(crate) async fn forget_certificates(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    pupils: impl IntoIterator<Item = i64>,
) -> Result<()> {
    let pupils: std::collections::BTreeSet<i64> = pupils.into_iter().collect();
    let pupils: Vec<i64> = pupils.into_iter().collect();
    for chunk in pupils.chunks(LITERAL_ROWS) {
        let sql = format!(
            "UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id IN ({})",
            integer_list(chunk)
        );
        sqlx::query(AssertSqlSafe(sql)).execute(&mut **tx).await?;
    }
    Ok(())
}

impl LeaveOut {
    /// The condition on rows whose pupil id is `column` that keeps the pupils the run
    /// evaluates: `AND column IN (…)` once they are known (no placeholders), else
    /// [`LeaveOut::uncertified`] with placeholders from `$first`; nothing without a `LeaveOut`.
    pub fn condition(quiet: Option<&LeaveOut>, column: &str, first: usize) -> String {
        match quiet {
            None => String::new(),
            Some(LeaveOut {
                evaluated: Some(ids),
                backend,
                ..
            }) => {
                if ids.is_empty() {
                    return " AND 1 = 0".to_owned();
                }
                match backend {
                    // One constant: planning the register years' read for 38,483 pupils took
                    // 12 ms with it, 89-145 ms with a list of literals (`psql`, 1,000,000
                    // pupils; the other reads carry the same list, not timed one by one).
                    Backend::Postgres => {
                        format!(" AND {column} = ANY('{{{}}}'::bigint[])", integer_list(ids))
                    }
                    Backend::Sqlite => format!(" AND {column} IN ({})", integer_list(ids)),
                }
            }
            Some(_) => Self::uncertified(column, first),
        }
    }

    /// The school's `column`, as a query's school condition names it. With the evaluated
    /// pupils listed it is `+column`, which SQLite cannot look up in an index: it then seeks
    /// the listed pupils' rows by their own key instead of reading every row of the school
    /// from the school's index (the register years of 6,633 pupils out of 100,000: 15 ms
    /// against 46 ms).
    pub fn school_column(quiet: Option<&LeaveOut>, column: &str) -> String {
        match quiet {
            Some(LeaveOut {
                evaluated: Some(_), ..
            }) => format!("+{column}"),
            _ => column.to_owned(),
        }
    }

    /// `AND NOT EXISTS (…)`: rows whose pupil (`column`) has no standing certificate, with
    /// placeholders from `$first`, bound by [`LeaveOut::bind_certificate`].
    pub fn uncertified(column: &str, first: usize) -> String {
        format!(" AND NOT{}", Self::certificate_stands(column, first))
    }

    fn certificate_stands(column: &str, first: usize) -> String {
        format!(
            " EXISTS (SELECT 1 FROM pupil_quiet q WHERE q.pupil_id = {column}
                AND q.basis = ${} AND q.until > ${} AND q.year = ${}
                AND q.credit >= ${} AND q.last_slot <= ${})",
            first,
            first + 1,
            first + 2,
            first + 3,
            first + 4
        )
    }

    /// [`LeaveOut::uncertified`] for a query on `pupil_quiet` itself: the row's own
    /// certificate, read without a second lookup. A row never certified has NULLs, so the
    /// test is made false rather than unknown.
    pub fn uncertified_here(first: usize) -> String {
        format!(
            " AND NOT COALESCE(basis = ${} AND until > ${} AND year = ${}
                AND credit >= ${} AND last_slot <= ${}, FALSE)",
            first,
            first + 1,
            first + 2,
            first + 3,
            first + 4
        )
    }

    pub fn bind<'q>(
        quiet: Option<&'q LeaveOut>,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        match quiet {
            None => query,
            Some(LeaveOut {
                evaluated: Some(_), ..
            }) => query,
            Some(q) => q.bind_certificate(query),
        }
    }

    pub fn bind_certificate<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        query
            .bind(self.basis)
            .bind(self.today.as_str())
            .bind(self.year)
            .bind(self.closed)
            .bind(self.last_closed)
    }
}

/// What a register write does to the certificates of quiet pupils (see
/// [`crate::escalation::quiet`]): plain present marks (and `Z`, see
/// [`crate::escalation::quiet::keeps_certificate`]), and the attended marks the certificate's
/// policy reads as present (its row's `keeps`, see [`crate::escalation::quiet::KeptMarks`]),
/// recorded after the slots a certificate counted are credited to it; any other change (an
/// absence, a late mark its policy counts, a recode, a mark in a session it had already
/// counted, another year) forgets it. Every write moves the stamp of a pupil it does not
/// credit, so a run that read the pupil before this write cannot leave a certificate after it.
pub(super) async fn carry_quiet(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    chunk: &[(&YearWrite<'_>, Merge, i64)],
) -> Result<()> {
    use crate::escalation::quiet::{attended_bit, keeps_certificate};
    let mut forget: Vec<i64> = Vec::new();
    // (pupil, year, marks, first slot, last slot, attended marks other than plain present)
    let mut present: Vec<(i64, i64, i64, i64, i64, i64)> = Vec::new();
    for (w, merge, _) in chunk {
        let (Some(&first), Some(&last)) =
            (merge.recorded.iter().min(), merge.recorded.iter().max())
        else {
            continue;
        };
        let mut plain = merge.amended.is_empty();
        let mut attended = 0_u64;
        for &at in &merge.recorded {
            match merge.marks.get(usize::from(at)).copied() {
                Some(mark) if keeps_certificate(mark) => {}
                Some(mark) => match attended_bit(mark) {
                    Some(bit) => attended |= bit,
                    None => plain = false,
                },
                None => plain = false,
            }
        }
        if plain {
            present.push((
                w.pupil_id,
                i64::from(w.year),
                merge.recorded.len() as i64,
                i64::from(first),
                i64::from(last),
                i64::try_from(attended).unwrap_or(-1),
            ));
        } else {
            forget.push(w.pupil_id);
        }
    }
    if !forget.is_empty() {
        let sql = format!(
            "UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id IN ({})",
            (1..=forget.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in &forget {
            query = query.bind(*id);
        }
        query.execute(&mut **tx).await?;
    }
    if present.is_empty() {
        return Ok(());
    }
    let values = multi_row_sql(
        connection_backend(tx),
        "(VALUES ",
        6,
        present.len(),
        ") AS v",
    );
    let bind_all = |sql: String| {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (pupil, year, marks, first, last, attended) in &present {
            query = query
                .bind(*pupil)
                .bind(*year)
                .bind(*marks)
                .bind(*first)
                .bind(*last)
                .bind(*attended);
        }
        query
    };
    // An attended mark the certificate's policy does not read as present has a bit outside
    // the row's `keeps`.
    bind_all(format!(
        "UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL FROM {values}
         WHERE pupil_quiet.pupil_id = v.column1
           AND (pupil_quiet.year IS NULL OR pupil_quiet.year <> v.column2
                OR pupil_quiet.last_slot IS NULL OR pupil_quiet.last_slot >= v.column4
                OR (v.column6 & ~pupil_quiet.keeps) <> 0)"
    ))
    .execute(&mut **tx)
    .await?;
    bind_all(format!(
        "UPDATE pupil_quiet SET credit = pupil_quiet.credit + v.column3, last_slot = v.column5
         FROM {values}
         WHERE pupil_quiet.pupil_id = v.column1 AND pupil_quiet.year = v.column2
           AND pupil_quiet.last_slot < v.column4 AND (v.column6 & ~pupil_quiet.keeps) = 0"
    ))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The writes that have no trigger forgetting the pupil's certificate (see
    /// [`super::forget_certificates`]), as the SQL words that make them: a certificate left
    /// standing after a new decision would leave the pupil out of every later run until it
    /// ran out.
    const FORGOTTEN_BY_THEIR_WRITER: [(&str, &str); 6] = [
        ("into", "decisions"),
        ("copy", "decisions"),
        ("into", "outbox_items"),
        ("copy", "outbox_items"),
        ("into", "stage_memory"),
        ("update", "stage_memory"),
    ];

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                rust_files(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
        Ok(())
    }

    #[test]
    fn only_record_inserts_rows_that_it_forgets_itself() -> std::io::Result<()> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let record = src.join("delivery").join("outbox.rs");
        let mut files = Vec::new();
        rust_files(&src, &mut files)?;
        let mut writers = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file)?.to_lowercase();
            // A file's unit tests (this one's among them) may write what they like.
            let text = text.split("#[cfg(test)]").next().unwrap_or("");
            let words: Vec<&str> = text
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            for pair in words.windows(2) {
                if FORGOTTEN_BY_THEIR_WRITER.contains(&(pair[0], pair[1])) {
                    writers.push((file.clone(), format!("{} {}", pair[0], pair[1])));
                }
            }
        }
        let elsewhere: Vec<_> = writers.iter().filter(|(file, _)| *file != record).collect();
        assert!(
            elsewhere.is_empty(),
            "{elsewhere:?} insert rows whose pupils' certificates only `record` forgets: call \
             forget_certificates in the same transaction, as `record` does, and list them here"
        );
        // The guard reads the SQL as `record` writes it: were it reworded, this would find
        // nothing anywhere.
        let found: std::collections::BTreeSet<&str> =
            writers.iter().map(|(_, write)| write.as_str()).collect();
        let expected: std::collections::BTreeSet<&str> =
            ["into decisions", "into outbox_items", "into stage_memory"].into();
        assert_eq!(found, expected);
        Ok(())
    }
}
