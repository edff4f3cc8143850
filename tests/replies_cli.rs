//! `rollcall replies poll` (issue 16), the real binary: it refuses, saying what to set, when
//! replies are not read from GOV.UK Notify, and otherwise reads Notify once (a stand-in on a
//! loopback port) and prints what it found.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate};

const SCHOOL: &str = r#"
[database]
url = "sqlite://rollcall.db"

[school]
name = "Example Academy"
urn = "100001"
la_code = "886"

[[calendar.terms]]
name = "Autumn 2025"
start = "2025-09-01"
end = "2025-12-19"
"#;

const PUPILS: &str = "\
upn,forename,surname,date_of_birth,year_group,reg_group,gender,fsm,sen,eal,ethnicity,lac,social_worker,young_carer,concern,admission_date,leaving_date
B801200005001,Ada,Lovelace,2018-03-01,3,3B,F,N,N,N,WBRI,N,N,N,N,2021-09-01,
";

fn notify(uri: &str) -> String {
    format!(
        r#"
[delivery]
mode = "live"
sms = "notify"
[delivery.notify]
base_url = "{uri}"
api_key = "rollcall_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"
sms_template_id = "f33517ff-2a88-4f6e-b855-c550268ce08a"
"#
    )
}

fn rollcall(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ROLLCALL") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("CREDENTIALS_DIRECTORY")
        .arg("--config")
        .arg(dir.join("rollcall.toml"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the rollcall binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A school folder with this config and a database (an import makes it).
fn school(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rollcall.toml"), config).expect("config");
    std::fs::write(dir.path().join("pupils.csv"), PUPILS).expect("pupils");
    let out = rollcall(dir.path(), &["import", "pupils", "pupils.csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_poll_reads_notify_once_or_says_what_to_set() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/v2/received-text-messages"))
        .and(wiremock::matchers::query_param_is_missing("older_than"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "received_text_messages": [
                {"id": "00000000-0000-4000-8000-000000000002", "created_at": "2025-09-03 08:02:00.000000",
                 "service_id": "26785a09-ab16-4eb0-8407-a37497a57506", "notify_number": "07700900456",
                 "user_number": "447700900002", "content": "Ada is at the dentist"},
                {"id": "00000000-0000-4000-8000-000000000001", "created_at": "2025-09-03 08:01:00.000000",
                 "service_id": "26785a09-ab16-4eb0-8407-a37497a57506", "notify_number": "07700900456",
                 "user_number": "447700900001", "content": "Ada is ill"}
            ],
            "links": {"current": "https://api.notifications.service.gov.uk/v2/received-text-messages"}
        })))
        .mount(&server)
        .await;
    let uri = server.uri();
    tokio::task::spawn_blocking(move || {
        // Replies not enabled.
        let dir = school(&format!("{SCHOOL}{}", notify(&uri)));
        let out = rollcall(dir.path(), &["replies", "poll"]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains("[replies] enabled = true"), "{err}");

        // Enabled, but texts go through Twilio: nothing to poll.
        let dir = school(&format!(
            "{SCHOOL}\n[delivery]\nmode = \"live\"\nsms = \"twilio\"\n\
             [delivery.twilio]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\n\
             auth_token = \"x\"\nfrom = \"OAKPRIMARY\"\n[replies]\nenabled = true\n"
        ));
        let out = rollcall(dir.path(), &["replies", "poll"]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains("GOV.UK Notify is not configured") && err.contains("sms = \"notify\""),
            "{err}"
        );

        // Notify: two replies on one page, read once; the second poll finds them stored.
        let dir = school(&format!(
            "{SCHOOL}{}[replies]\nenabled = true\n",
            notify(&uri)
        ));
        let out = rollcall(dir.path(), &["replies", "poll"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).trim(),
            "GOV.UK Notify: 1 page read, 2 new replies, 0 already stored"
        );
        let first_log = text(&out.stderr);
        let out = rollcall(dir.path(), &["replies", "poll"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).trim(),
            "GOV.UK Notify: 1 page read, 0 new replies, 0 already stored"
        );
        // Neither words nor numbers reached the log.
        let log = first_log + &text(&out.stderr);
        assert!(!log.contains("dentist") && !log.contains("900002"), "{log}");
    })
    .await
    .expect("the commands ran");
}
