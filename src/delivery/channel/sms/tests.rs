//! Unit tests for SMS: segment counting, API keys, base64 and Retry-After.

use super::encoding::*;
use super::http::*;
use super::notify::*;
use super::*;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;

fn gsm(units: usize, segments: usize) -> Segments {
    Segments {
        encoding: Encoding::Gsm7,
        units,
        segments,
    }
}

fn ucs2(units: usize, segments: usize) -> Segments {
    Segments {
        encoding: Encoding::Ucs2,
        units,
        segments,
    }
}

#[test]
fn texts_over_six_segments_are_refused() {
    assert_eq!(check_length(&"a".repeat(918)).map(|s| s.segments), Ok(6));
    let err = check_length(&"a".repeat(919)).expect_err("7 segments");
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("7 segments (GSM-7, 919 characters)")),
        "{err}"
    );
    assert_eq!(check_length(&"ж".repeat(402)).map(|s| s.segments), Ok(6));
    assert!(check_length(&"ж".repeat(403)).is_err());
}

#[test]
fn empty_text_is_no_segments() {
    assert_eq!(segments(""), gsm(0, 0));
}

#[test]
fn gsm7_single_segment_ends_at_160() {
    assert_eq!(segments(&"a".repeat(160)), gsm(160, 1));
    // 161 septets: 153 in the first part, 8 in the second.
    assert_eq!(segments(&"a".repeat(161)), gsm(161, 2));
    assert_eq!(segments(&"a".repeat(306)), gsm(306, 2));
    assert_eq!(segments(&"a".repeat(307)), gsm(307, 3));
}

#[test]
fn ucs2_single_segment_ends_at_70() {
    // Cyrillic is outside GSM 03.38.
    assert_eq!(segments(&"ж".repeat(70)), ucs2(70, 1));
    assert_eq!(segments(&"ж".repeat(71)), ucs2(71, 2));
    assert_eq!(segments(&"ж".repeat(134)), ucs2(134, 2));
    assert_eq!(segments(&"ж".repeat(135)), ucs2(135, 3));
}

#[test]
fn extension_characters_count_two() {
    assert_eq!(segments("€"), gsm(2, 1));
    assert_eq!(segments("^{}\\[~]|€\u{0C}"), gsm(20, 1));
    // 80 euro signs are 160 septets and fit; one more does not.
    assert_eq!(segments(&"€".repeat(80)), gsm(160, 1));
    assert_eq!(segments(&"€".repeat(81)), gsm(162, 2));
}

#[test]
fn escape_pair_is_not_split_across_segments() {
    // 152 + 2 would overflow the first 153-septet part, so the € starts the second part:
    // [152] [€ + 151 = 153] [1] is three segments though 306 septets would fit in two.
    let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
    assert_eq!(segments(&text), gsm(306, 3));
}

#[test]
fn emoji_are_surrogate_pairs() {
    assert_eq!(segments("😀"), ucs2(2, 1));
    assert_eq!(segments(&"😀".repeat(35)), ucs2(70, 1));
    assert_eq!(segments(&"😀".repeat(36)), ucs2(72, 2));
    // A part holds 33 emoji (66 units); the 34th would split a pair at unit 67.
    assert_eq!(segments(&"😀".repeat(67)), ucs2(134, 3));
    // One emoji turns a whole GSM-7 text into UCS-2.
    assert_eq!(segments(&format!("{}😀", "a".repeat(68))), ucs2(70, 1));
    assert_eq!(segments(&format!("{}😀", "a".repeat(69))), ucs2(71, 2));
}

#[test]
fn gsm_basic_set_accents_stay_gsm7() {
    assert_eq!(
        segments("café à Zürich £5 @ 9:00 ΔΩ").encoding,
        Encoding::Gsm7
    );
    // ç (lower case) is not in the basic set; Ç is.
    assert_eq!(segments("ç").encoding, Encoding::Ucs2);
    assert_eq!(segments("Ç").encoding, Encoding::Gsm7);
}

#[test]
fn segments_display() {
    let text = "a".repeat(190);
    assert_eq!(
        segments(&text).to_string(),
        "2 segments (GSM-7, 190 characters)"
    );
    assert_eq!(
        segments("hi").to_string(),
        "1 segment (GSM-7, 2 characters)"
    );
    assert_eq!(
        segments("hé😀").to_string(),
        "1 segment (UCS-2, 4 characters)"
    );
}

#[test]
fn api_key_is_split_without_echoing_it() {
    let service = "26785a09-ab16-4eb0-8407-a37497a57506";
    let secret = "3d844edf-8d35-48ac-975b-e847b4f122b0";
    let key = format!("my-test-key-{service}-{secret}");
    assert_eq!(
        split_api_key(&key),
        Ok((service.to_owned(), secret.to_owned()))
    );
    let broken = format!("my_test_key-{service}{secret}x");
    let e = split_api_key(&broken).unwrap_err().to_string();
    assert!(!e.contains("3d844edf"), "{e}");
    assert!(!e.contains("26785a09"), "{e}");
    let short = split_api_key(secret).unwrap_err().to_string();
    assert!(!short.contains("3d844edf"), "{short}");
}

#[test]
fn base64_matches_rfc4648_vectors() {
    for (input, output) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()), output);
    }
}

#[test]
fn retry_after_reads_seconds_and_dates() {
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("7"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    h.insert(
        RETRY_AFTER,
        reqwest::header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(retry_after(&h), Some(Duration::ZERO));
    h.insert(
        RETRY_AFTER,
        reqwest::header::HeaderValue::from_static("soon"),
    );
    assert_eq!(retry_after(&h), None);
}
