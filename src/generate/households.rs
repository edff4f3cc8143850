//! Addresses and families, so siblings share a home and contacts as real households do.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::names::{ETHNICITIES, Heritage, adult_name, pool};
use super::school::{Stream, pick, rng_for, weighted};

pub(super) const STREETS: &[&str] = &[
    "Acacia",
    "Beech",
    "Chestnut",
    "Holly",
    "Laburnum",
    "Linden",
    "Maple",
    "Rowan",
    "Sycamore",
    "Willow",
    "Station",
    "Church",
    "Mill",
    "Victoria",
    "Albert",
    "Queens",
    "Kings",
    "Park",
    "Meadow",
    "Orchard",
    "Brook",
    "Granary",
    "Foundry",
    "Canal",
    "Coronation",
    "Jubilee",
];
pub(super) const STREET_KINDS: &[&str] = &[
    "Road", "Street", "Avenue", "Close", "Lane", "Drive", "Crescent", "Way", "Gardens", "Grove",
    "Terrace", "Mews",
];
pub(super) const BUILDINGS: &[&str] = &[
    "Rose Court",
    "Kestrel House",
    "Mariner Point",
    "Alder House",
    "Weavers Court",
];
pub(super) const LOCALITIES: &[&str] = &[
    "Northfield",
    "Southmead",
    "Eastbrook",
    "Westcote",
    "Hillside",
    "Old Town",
    "Marsh End",
    "Greenacres",
];
/// Fictional towns with two-letter postcode areas that read like real ones.
pub(super) const TOWNS: &[(&str, &str)] = &[
    ("Rollingham", "RG"),
    ("Ashby Vale", "AV"),
    ("Kingsmere", "KM"),
    ("Thornbury Green", "TG"),
    ("Millbrook", "MK"),
];
/// Letters Royal Mail uses in the inward part of a postcode (no C, I, K, M, O, V).
pub(super) const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
pub(super) const EMAIL_DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

#[derive(Clone)]
pub(super) struct Address {
    pub(super) line_1: String,
    pub(super) line_2: &'static str,
    pub(super) town: &'static str,
    pub(super) postcode: String,
}

pub(super) fn address(rng: &mut ChaCha8Rng) -> Address {
    // Most families live in the school's own town.
    let (town, area) = if rng.random_bool(0.8) {
        TOWNS[0]
    } else {
        pick(rng, TOWNS)
    };
    let street = format!("{} {}", pick(rng, STREETS), pick(rng, STREET_KINDS));
    // Flats give address lines with commas, which is what real exports contain.
    let line_1 = if rng.random_bool(0.12) {
        format!(
            "Flat {}, {}",
            rng.random_range(1..=40),
            pick(rng, BUILDINGS)
        )
    } else {
        format!("{} {street}", rng.random_range(1..=180))
    };
    let line_2 = if line_1.starts_with("Flat") {
        // The street goes in line 2 for flats, as Royal Mail writes them.
        ""
    } else if rng.random_bool(0.4) {
        pick(rng, LOCALITIES)
    } else {
        ""
    };
    let postcode = format!(
        "{area}{} {}{}{}",
        rng.random_range(1..=24),
        rng.random_range(1..=9),
        char::from(pick(rng, INWARD_LETTERS)),
        char::from(pick(rng, INWARD_LETTERS)),
    );
    Address {
        line_1,
        line_2,
        town,
        postcode,
    }
}

pub(super) struct ContactPlan {
    pub(super) name: String,
    pub(super) relationship: &'static str,
    pub(super) email: String,
    pub(super) mobile: String,
    pub(super) parental_responsibility: bool,
    pub(super) address: Address,
}

/// What siblings share: contacts, address, heritage, and the household-level flags.
pub(super) struct Family {
    pub(super) heritage: Heritage,
    pub(super) ethnicity: &'static str,
    pub(super) surname: &'static str,
    pub(super) fsm: bool,
    pub(super) eal: bool,
    pub(super) lac: bool,
    pub(super) contacts: Vec<ContactPlan>,
}

#[derive(Clone, Copy)]
pub(super) enum Household {
    TwoParents,
    MotherOnly,
    FatherOnly,
    MotherAndStepfather,
    FatherAndStepmother,
    Grandparents,
    KinshipCarer,
}

#[derive(Clone, Copy)]
pub(super) enum Extra {
    Grandmother,
    Grandfather,
    Aunt,
    Uncle,
    FamilyFriend,
    Childminder,
}

pub(super) fn family(seed: u64, root: usize) -> Family {
    let mut rng = rng_for(seed, Stream::Family, root as u64);
    let (ethnicity, heritage) = weighted(&mut rng, ETHNICITIES);
    let names = pool(heritage);
    let surname = pick(&mut rng, names.surnames);
    let fsm = rng.random_bool(0.24);
    let eal = rng.random_bool(names.eal);
    let lac = rng.random_bool(0.01);
    let home = address(&mut rng);

    let wanted = weighted(&mut rng, &[(1usize, 20), (2, 50), (3, 30)]);
    let mut core: Vec<(&'static str, bool, bool, bool)> = Vec::new(); // (relationship, female, older, PR)
    if lac {
        core.push(("Foster carer", rng.random_bool(0.7), false, false));
        if rng.random_bool(0.5) {
            core.push(("Mother", true, false, true));
        }
    } else {
        let household = weighted(
            &mut rng,
            &[
                (Household::TwoParents, 55),
                (Household::MotherOnly, 24),
                (Household::FatherOnly, 4),
                (Household::MotherAndStepfather, 7),
                (Household::FatherAndStepmother, 2),
                (Household::Grandparents, 5),
                (Household::KinshipCarer, 3),
            ],
        );
        match household {
            Household::TwoParents => {
                let mother = ("Mother", true, false, true);
                let father = ("Father", false, false, true);
                if rng.random_bool(0.8) {
                    core.extend([mother, father]);
                } else {
                    core.extend([father, mother]);
                }
            }
            Household::MotherOnly => core.push(("Mother", true, false, true)),
            Household::FatherOnly => core.push(("Father", false, false, true)),
            Household::MotherAndStepfather => {
                core.extend([
                    ("Mother", true, false, true),
                    ("Stepfather", false, false, false),
                ]);
            }
            Household::FatherAndStepmother => {
                core.extend([
                    ("Father", false, false, true),
                    ("Stepmother", true, false, false),
                ]);
            }
            Household::Grandparents => {
                // Grandparents raising a child often hold a special guardianship order.
                let pr = rng.random_bool(0.4);
                core.push(("Grandparent", true, true, pr));
                if rng.random_bool(0.5) {
                    core.push(("Grandparent", false, true, pr));
                }
            }
            Household::KinshipCarer => core.push(("Carer", rng.random_bool(0.6), false, true)),
        }
    }
    core.truncate(wanted);
    while core.len() < wanted {
        let extra = weighted(
            &mut rng,
            &[
                (Extra::Grandmother, 40),
                (Extra::Grandfather, 15),
                (Extra::Aunt, 20),
                (Extra::Uncle, 10),
                (Extra::FamilyFriend, 10),
                (Extra::Childminder, 5),
            ],
        );
        core.push(match extra {
            Extra::Grandmother => ("Grandparent", true, true, rng.random_bool(0.1)),
            Extra::Grandfather => ("Grandparent", false, true, rng.random_bool(0.1)),
            Extra::Aunt => ("Aunt", true, false, false),
            Extra::Uncle => ("Uncle", false, false, false),
            Extra::FamilyFriend => ("Family friend", rng.random_bool(0.7), false, false),
            Extra::Childminder => ("Childminder", rng.random_bool(0.9), false, false),
        });
    }

    let mut contacts = Vec::with_capacity(core.len());
    for (relationship, female, older, pr) in core {
        let in_household = matches!(
            relationship,
            "Mother" | "Father" | "Stepfather" | "Stepmother" | "Carer"
        ) || (relationship == "Grandparent" && pr);
        let shares_surname = match relationship {
            "Father" | "Carer" => rng.random_bool(0.9),
            "Mother" => rng.random_bool(0.8),
            "Foster carer" | "Family friend" | "Childminder" => false,
            _ => rng.random_bool(0.5),
        };
        let their_surname = if shares_surname {
            surname
        } else {
            pick(&mut rng, pool(heritage).surnames)
        };
        let forename = adult_name(&mut rng, heritage, female, older);
        let name = format!("{forename} {their_surname}");
        let email_chance = if in_household { 0.85 } else { 0.5 };
        let email = if rng.random_bool(email_chance) {
            let number = if rng.random_bool(0.4) {
                rng.random_range(1..=99).to_string()
            } else {
                String::new()
            };
            format!(
                "{}.{}{number}@{}",
                email_part(forename),
                email_part(their_surname),
                pick(&mut rng, EMAIL_DOMAINS)
            )
        } else {
            String::new()
        };
        // Ofcom's drama range: numbers that will never ring a real phone.
        let mobile = if rng.random_bool(if older { 0.8 } else { 0.93 }) {
            format!("07700900{:03}", rng.random_range(0..1000))
        } else {
            String::new()
        };
        let address = if in_household || rng.random_bool(0.3) {
            home.clone()
        } else {
            address(&mut rng)
        };
        contacts.push(ContactPlan {
            name,
            relationship,
            email,
            mobile,
            parental_responsibility: pr,
            address,
        });
    }

    Family {
        heritage,
        ethnicity,
        surname,
        fsm,
        eal,
        lac,
        contacts,
    }
}

/// Lowercase ASCII for an email local part; folds the accented letters the name pools use.
pub(super) fn email_part(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let folded = match c {
                'ó' | 'ò' | 'ö' => 'o',
                'á' | 'à' | 'ä' => 'a',
                'é' | 'ē' | 'è' => 'e',
                'ī' | 'í' => 'i',
                'ņ' | 'ń' => 'n',
                'š' | 'ś' => 's',
                'ž' | 'ż' => 'z',
                'ł' => 'l',
                other => other,
            };
            folded
                .is_ascii_alphanumeric()
                .then(|| folded.to_ascii_lowercase())
        })
        .collect()
}
