//! Who a message is from and to, as its headers name them.

use super::*;

/// A staff role as a person would say it ("attendance_officer" → "Attendance officer").
pub fn role_words(role: &str) -> String {
    match role {
        "attendance_officer" => "Attendance officer".to_owned(),
        "dsl" => "Designated safeguarding lead".to_owned(),
        "head_of_year" => "Head of year".to_owned(),
        "class_teacher" => "Class teacher".to_owned(),
        "deputy_head" => "Deputy headteacher".to_owned(),
        "headteacher" => "Headteacher".to_owned(),
        "social_worker" => "Social worker".to_owned(),
        "key_worker" => "Key worker".to_owned(),
        "la" => "Local authority attendance team".to_owned(),
        "newsletter" => "Parents and carers".to_owned(),
        "governors" => "Governors".to_owned(),
        "alerts_fallback" => "rollcall alerts".to_owned(),
        other => {
            let words = other.replace('_', " ");
            let mut chars = words.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        }
    }
}

/// Who a staff, LA or report message is addressed to, as the email's To name: the role in
/// words and the school ("Attendance officer, Oak Primary"); the LA's team serves many schools
/// and is named on its own.
pub fn recipient_display_name(role: &str, school: &str) -> String {
    match role {
        "la" => role_words(role),
        _ => format!("{}, {school}", role_words(role)),
    }
}

/// The mailbox configured for a role under `[school.staff]`, as (To name, address): the
/// person's name when the config gives one (`"Jo Bloggs <jo@…>"`), else the role in words.
pub(super) fn staff_mailbox(school: &SchoolConfig, role: &str) -> Result<(String, String), String> {
    let configured = school.staff.get(role).ok_or_else(|| {
        format!(
            "no email address for \"{role}\": add `{role} = \"…\"` under [school.staff] in the config"
        )
    })?;
    let mailbox = crate::config::parse_mailbox(configured)
        .map_err(|e| format!("[school.staff] {role}: {e}"))?;
    let name = mailbox
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| recipient_display_name(role, &school.name));
    Ok((name, mailbox.email.to_string()))
}

/// The school's sending address: its contact email, or a placeholder that cannot be mistaken
/// for a real mailbox when none is configured (file mode only; live mode needs a real one).
/// The display name is the school's name as it spells it: built as a mailbox rather than
/// parsed from text, because "St Mary's C of E (Aided) Primary School & Nursery <…>" does not
/// parse (RFC 5322 reads the parentheses as a comment).
pub fn from_mailbox(school: &SchoolConfig) -> Result<lettre::message::Mailbox, SendError> {
    let address = if school.contact.email.is_empty() {
        format!("attendance@{}.invalid", school.id)
    } else {
        school.contact.email.trim().to_owned()
    };
    let email: lettre::Address = address.parse().map_err(|e| {
        SendError::Permanent(format!(
            "the school's email \"{address}\" is not an address ({e}); fix [school.contact] email"
        ))
    })?;
    let name = school.name.trim();
    Ok(lettre::message::Mailbox::new(
        (!name.is_empty()).then(|| name.to_owned()),
        email,
    ))
}
