//! The commands a school uses to read its messages before switching on: `rollcall templates
//! render` (the gallery), `rollcall check` (which actions would fall back on generic text, and
//! which signatories have no name), `rollcall preview` (a text's segment count), and `approve
//! --note` for a message that quotes its approver.

use std::path::Path;
use std::process::{Command, Output};

const CONFIG: &str = r#"
[database]
url = "sqlite://rollcall.db"

[school]
name = "St Mary's C of E (Aided) Primary School & Nursery"
urn = "100002"
la_code = "886"
policy = "POLICY"

[school.contact]
phone = "01632 960000"
email = "office@st-marys.example.sch.uk"
address = ["Church Lane", "Canterbury CT1 2AA"]
signatory = "Jo Bloggs"
signatory_role = "Attendance Officer"
SIGNATORIES

[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"

[[calendar.holidays]]
name = "Autumn half term"
start = "2025-10-27"
end = "2025-10-31"
"#;

fn rollcall_in(cwd: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("ROLLCALL_CONFIG")
        .output()
        .expect("run rollcall")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// A school folder: config (with `policy` and any signatories), nothing imported.
fn school(policy: &str, signatories: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("rollcall.toml"),
        CONFIG
            .replace("POLICY", policy)
            .replace("SIGNATORIES", signatories),
    )
    .expect("config");
    dir
}

#[test]
fn templates_render_writes_the_gallery_for_a_sample_school_without_a_config() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let out = cwd.path().join("gallery");
    let text = ok(rollcall_in(
        cwd.path(),
        None,
        &[
            "templates",
            "render",
            "--policy",
            "isp-whitstable",
            "--out",
            out.to_str().expect("path"),
        ],
    ));
    assert!(
        // 16 for the ladder and the statutory steps, 12 for issue 14's: the CME enquiry task,
        // the LA's CME notice and the social worker's email, the LA's part-time notice and
        // its review task, the new-pupil notice, the deletion notice and the social worker's
        // email, the severe-absence meeting and LA notice, religious observance, the
        // pattern-of-absence meeting.
        text.contains("28 messages of policy \"isp-whitstable\""),
        "{text}"
    );
    // The text's length is shown where it is written.
    let sms = out.join("first_day.sms.isp_first_day.sms.txt");
    assert!(
        text.contains(&format!("wrote {}: 2 segments (GSM-7, ", sms.display())),
        "{text}"
    );
    assert!(!text.contains("generic template"), "{text}");
    assert!(
        out.join("lateness_pattern.letter.isp_lateness_concern.pdf")
            .exists()
    );
    assert!(out.join("index.html").exists());
}

#[test]
fn templates_render_uses_the_schools_own_name_contact_and_signatories() {
    let dir = school(
        "inspire-trust",
        "[school.contact.signatories]\nheadteacher = \"Sam Okafor, Head of School\"",
    );
    let out = dir.path().join("gallery");
    ok(rollcall_in(
        dir.path(),
        Some(&dir.path().join("rollcall.toml")),
        &["templates", "render", "--out", out.to_str().expect("path")],
    ));
    // No --policy: the school's own.
    let call = std::fs::read_to_string(
        out.join("first_day.task.inspire_pastoral_first_day_call.task.txt"),
    )
    .expect("the first-day call");
    assert!(
        call.starts_with("Pastoral call: ring Ada Lovelace's parent"),
        "{call}"
    );
    let pdf = std::fs::read(out.join("final_warning.letter.inspire_final_written_warning.pdf"))
        .expect("the warning");
    let doc = lopdf::Document::load_mem(&pdf).expect("parses");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).unwrap_or_default();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("Sam Okafor"), "{text}");
    assert!(text.contains("Head of School"), "{text}");
}

#[test]
fn check_lists_actions_that_fall_back_on_generic_text_and_unnamed_signatories() {
    let dir = school("./ours.toml", "");
    std::fs::write(
        dir.path().join("ours.toml"),
        r#"
name = "ours"
title = "Our own ladder"

[[stage]]
id = "first_day"
title = "First day"
trigger = { first_day = {} }
rearm = "daily"
case = "none"
actions = [
  { channel = "sms", to = "contacts", template = "first_day" },
  { channel = "letter", to = "parental_responsibility", template = "our_first_day_letter" },
]

[[stage]]
id = "warning"
title = "Warning"
trigger = { consecutive_absent_days = { days = 5, unauthorised_only = true } }
approval = "required"
enforcement = true
signatory = "headteacher"
actions = [
  { channel = "letter", to = "parental_responsibility", template = "inspire_final_written_warning" },
]
"#,
    )
    .expect("policy");
    let config = dir.path().join("rollcall.toml");
    let text = ok(rollcall_in(dir.path(), Some(&config), &["check"]));
    assert!(
        text.contains("checks clean"),
        "a fallback is not a problem: {text}"
    );
    assert!(
        text.contains("note: school \"100002\": 1 action(s) use a generic template"),
        "{text}"
    );
    assert!(
        text.contains(
            "stage \"first_day\" actions[1] (letter to parental_responsibility): template \"our_first_day_letter\" has no our_first_day_letter.letter.hbs of its own; the generic _family text is used"
        ),
        "{text}"
    );
    assert!(
        text.contains("stage \"warning\" is signed by the headteacher, but [school.contact.signatories] gives no name for \"headteacher\""),
        "{text}"
    );

    // The school writes its own letter: nothing falls back any more.
    std::fs::create_dir(dir.path().join("templates")).expect("dir");
    std::fs::write(
        dir.path().join("templates/our_first_day_letter.letter.hbs"),
        "Re: {{pupil.name}}\n\nDear {{recipient}},\n\n{{pupil.forename}} is not in school today.\n",
    )
    .expect("template");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("config")
            .replace(
                "policy = \"./ours.toml\"",
                "policy = \"./ours.toml\"\ntemplates = \"templates\"",
            )
            .replace(
                "signatory_role = \"Attendance Officer\"",
                "signatory_role = \"Attendance Officer\"\n\n[school.contact.signatories]\nheadteacher = \"Sam Okafor\"",
            ),
    )
    .expect("config");
    let text = ok(rollcall_in(dir.path(), Some(&config), &["check"]));
    assert!(
        text.contains("ok: school \"100002\": every action has its own template"),
        "{text}"
    );
    assert!(!text.contains("signatories] gives no name"), "{text}");
}

#[test]
fn every_shipped_policy_checks_with_no_generic_template() {
    for policy in [
        "dfe-baseline",
        "isp-whitstable",
        "james-marks-academy",
        "russell-street-school",
        "inspire-trust",
    ] {
        let dir = school(
            policy,
            "[school.contact.signatories]\nheadteacher = \"Sam Okafor\"\ndeputy_head = \"Alex Morgan\"",
        );
        let text = ok(rollcall_in(
            dir.path(),
            Some(&dir.path().join("rollcall.toml")),
            &["check"],
        ));
        assert!(
            text.contains("every action has its own template")
                && !text.lines().any(|l| l.starts_with("note: school")),
            "{policy}: {text}"
        );
    }
}

#[test]
fn a_signatory_must_be_a_staff_role_and_signatories_known_roles() {
    let dir = school("./ours.toml", "");
    std::fs::write(
        dir.path().join("ours.toml"),
        r#"
name = "ours"
title = "Ours"
[[stage]]
id = "letter"
title = "Letter"
trigger = { consecutive_absent_days = { days = 3 } }
signatory = "la"
actions = [{ channel = "letter", to = "parental_responsibility", template = "persistent_absence" }]
"#,
    )
    .expect("policy");
    let config = dir.path().join("rollcall.toml");
    let out = rollcall_in(dir.path(), Some(&config), &["check"]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("stage \"letter\": signatory: \"la\" cannot sign the school's letters"),
        "{text}"
    );

    let dir = school(
        "dfe-baseline",
        "[school.contact.signatories]\nhead_teacher = \"Sam Okafor\"",
    );
    let out = rollcall_in(
        dir.path(),
        Some(&dir.path().join("rollcall.toml")),
        &["check"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("school.contact.signatories.head_teacher")
            && err.contains("allowed: headteacher, deputy_head"),
        "{err}"
    );
}

const PUPILS: &str = "\
upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
";

const CONTACTS: &str = "\
upn,name,relationship,priority,email,mobile,parental_responsibility,address_line_1,address_line_2,town,postcode
B801200005001,Anne Lovelace,Mother,1,anne@example.com,07700 900001,Y,1 Test Street,,Testtown,TT1 1AA
";

/// A message whose action asks for a note is refused without one, and `pending` says so;
/// `preview` shows a text's segment count.
#[test]
fn approve_asks_for_the_note_a_message_quotes_and_preview_counts_segments() {
    let dir = school("./ours.toml", "");
    let p = dir.path();
    std::fs::write(
        p.join("ours.toml"),
        r#"
name = "ours"
title = "Ours"
[[stage]]
id = "first_day"
title = "First day"
trigger = { first_day = {} }
rearm = "daily"
case = "none"
actions = [{ channel = "sms", to = "contacts", template = "first_day" }]

[[stage]]
id = "meeting"
title = "Meeting"
trigger = { consecutive_absent_days = { days = 3 } }
approval = "required"
actions = [{ channel = "email", to = "parental_responsibility", template = "rss_attendance_meeting_follow_up", note = "the strategies agreed at the meeting" }]
"#,
    )
    .expect("policy");
    std::fs::write(p.join("pupils.csv"), PUPILS).expect("pupils");
    std::fs::write(p.join("contacts.csv"), CONTACTS).expect("contacts");
    let mut marks = String::from("upn,date,session,mark\n");
    for day in ["2025-09-01", "2025-09-02", "2025-09-03"] {
        marks.push_str(&format!(
            "B801200005001,{day},AM,/\nB801200005001,{day},PM,\\\n"
        ));
    }
    for day in ["2025-09-04", "2025-09-05", "2025-09-08"] {
        marks.push_str(&format!(
            "B801200005001,{day},AM,N\nB801200005001,{day},PM,N\n"
        ));
    }
    std::fs::write(p.join("marks.csv"), marks).expect("marks");
    let config = p.join("rollcall.toml");
    for (what, file) in [
        ("pupils", "pupils.csv"),
        ("contacts", "contacts.csv"),
        ("marks", "marks.csv"),
    ] {
        ok(rollcall_in(
            p,
            Some(&config),
            &["import", what, p.join(file).to_str().expect("path")],
        ));
    }
    ok(rollcall_in(
        p,
        Some(&config),
        &["escalate", "--as-of", "2025-09-08T18:00"],
    ));
    let pending = ok(rollcall_in(p, Some(&config), &["pending"]));
    assert!(
        pending.contains(
            "approve with --note \"…\": the message quotes the strategies agreed at the meeting"
        ),
        "{pending}"
    );
    let id = pending
        .lines()
        .filter(|l| l.contains(" email to "))
        .find_map(|l| l.strip_prefix('#'))
        .and_then(|l| l.split_whitespace().next())
        .expect("the email's id")
        .to_owned();
    let by = "Jo Bloggs (Senior Attendance Champion)";
    let refused = rollcall_in(p, Some(&config), &["approve", &id, "--by", by]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(
            "quotes a note from whoever approves it: the strategies agreed at the meeting"
        ) && err.contains("nothing changed"),
        "{err}"
    );
    assert!(ok(rollcall_in(p, Some(&config), &["pending"])).contains(&format!("#{id} ")));
    let approved = ok(rollcall_in(
        p,
        Some(&config),
        &[
            "approve",
            &id,
            "--by",
            by,
            "--note",
            "Ada will walk in with a neighbour.",
        ],
    ));
    assert!(approved.contains("approved"), "{approved}");
    assert!(!ok(rollcall_in(p, Some(&config), &["pending"])).contains(&format!("#{id} ")));

    // The first-day text of 8 September, with its length.
    let preview = ok(rollcall_in(
        p,
        Some(&config),
        &[
            "preview",
            "first_day",
            "--upn",
            "B801200005001",
            "--as-of",
            "2025-09-08T09:45",
        ],
    ));
    assert!(
        preview.contains("# 2 segments (GSM-7, ")
            && preview.contains(
                "St Mary's C of E (Aided) Primary School & Nursery: Ada is not in school this morning (Monday 8 September 2025)"
            ),
        "{preview}"
    );
}
