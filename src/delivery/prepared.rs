//! A message rendered and addressed, ready for its channel, and the letter it prints as.

use super::*;

/// A message rendered and addressed, ready for its channel.
pub struct Prepared {
    pub date: NaiveDate,
    pub outgoing: Outgoing,
    pub rendered: Rendered,
    pub data: crate::delivery::template::MessageData,
}

/// The PDF of a prepared message's letter, if it makes one.
pub fn letter_pdf(school: &SchoolConfig, prepared: &Prepared) -> Option<Result<Vec<u8>>> {
    let text = prepared.rendered.letter.as_ref()?;
    Some(
        crate::delivery::channel::letter::render_one(&letter_for(school, prepared, text))
            .map_err(|e| anyhow::anyhow!("cannot make the letter: {e}")),
    )
}

/// The printable letter for a rendered message.
pub fn letter_for(
    school: &SchoolConfig,
    prepared: &Prepared,
    text: &crate::delivery::template::LetterText,
) -> crate::delivery::channel::letter::Letter {
    // A letter sent by post is addressed where it goes; one attached to an email still
    // carries the family's postal address, found from the contact it is to.
    let postal_text =
        if prepared.outgoing.address.contains('@') || prepared.outgoing.address.is_empty() {
            prepared
                .data
                .pupils
                .iter()
                .flat_map(|p| &p.contacts)
                .find(|c| {
                    !c.address.is_empty()
                        && prepared
                            .data
                            .recipient
                            .split(" and ")
                            .any(|name| name == c.name)
                })
                .map(|c| c.address.clone())
                .unwrap_or_default()
        } else {
            prepared.outgoing.address.clone()
        };
    let mut postal: Vec<String> = postal_text
        .split(", ")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if postal.is_empty() {
        // No postal address on record: the letter is still worth reading as an attachment.
        postal.push("(by email)".to_owned());
    }
    crate::delivery::channel::letter::Letter {
        school_name: school.name.clone(),
        school_address: school.contact.address.clone(),
        school_contact: [school.contact.phone.as_str(), school.contact.email.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" · "),
        date: prepared.date,
        recipient_name: prepared.data.recipient.clone(),
        recipient_address: postal,
        reference: format!("Ref: {}", prepared.outgoing.outbox_id),
        heading: text.heading.clone(),
        paragraphs: text.paragraphs.clone(),
        sign_off: "Yours sincerely".into(),
        // The message's signatory: the one its stage names, else [school.contact]'s.
        signatory: prepared.data.school.signatory.clone(),
        signatory_role: prepared.data.school.signatory_role.clone(),
    }
}
