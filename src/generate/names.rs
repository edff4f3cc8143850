//! Heritage-weighted name pools, so a generated roll reads like a real English school's.

use rand_chacha::ChaCha8Rng;

use super::school::pick;

// ---------------------------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Heritage {
    British,
    Irish,
    EastEuropean,
    SouthAsianMuslim,
    Indian,
    African,
    Chinese,
    MiddleEastern,
}

/// DfE ethnicity codes weighted roughly like state primary schools in England.
pub(super) const ETHNICITIES: &[((&str, Heritage), u32)] = &[
    (("WBRI", Heritage::British), 590),
    (("WIRI", Heritage::Irish), 4),
    (("WOTH", Heritage::EastEuropean), 75),
    (("WROM", Heritage::EastEuropean), 6),
    (("MWBC", Heritage::British), 18),
    (("MWBA", Heritage::British), 10),
    (("MWAS", Heritage::British), 20),
    (("MOTH", Heritage::British), 25),
    (("AIND", Heritage::Indian), 35),
    (("APKN", Heritage::SouthAsianMuslim), 45),
    (("ABAN", Heritage::SouthAsianMuslim), 20),
    (("AOTH", Heritage::MiddleEastern), 20),
    (("BCRB", Heritage::British), 7),
    (("BAFR", Heritage::African), 45),
    (("BOTH", Heritage::African), 8),
    (("CHNE", Heritage::Chinese), 6),
    (("OOTH", Heritage::MiddleEastern), 22),
    (("REFU", Heritage::British), 8),
    (("NOBT", Heritage::British), 6),
];

pub(super) struct NamePool {
    pub(super) boys: &'static [&'static str],
    pub(super) girls: &'static [&'static str],
    pub(super) surnames: &'static [&'static str],
    /// Chance that a child of this heritage speaks English as an additional language; tuned
    /// so the school overall is about 20% EAL.
    pub(super) eal: f64,
}

pub(super) const BRITISH: NamePool = NamePool {
    boys: &[
        "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Charlie",
        "Freddie", "Theo", "Alfie", "Jacob", "Thomas", "Henry", "William", "Archie", "Joshua",
        "James", "Lucas", "Isaac", "Edward", "Max", "Samuel", "Joseph", "Reggie", "Teddy",
        "Finley", "Harrison", "Ethan", "Logan", "Dylan", "Riley", "Tommy", "Albie", "Jayden",
    ],
    girls: &[
        "Olivia",
        "Amelia",
        "Isla",
        "Ava",
        "Lily",
        "Freya",
        "Ivy",
        "Florence",
        "Mia",
        "Sophia",
        "Grace",
        "Willow",
        "Rosie",
        "Evie",
        "Poppy",
        "Ella",
        "Isabella",
        "Daisy",
        "Sienna",
        "Evelyn",
        "Phoebe",
        "Elsie",
        "Harper",
        "Matilda",
        "Emily",
        "Ruby",
        "Millie",
        "Erin",
        "Chloe",
        "Jessica",
        "Maisie",
        "Aria",
        "Layla",
        "Ellie-Mae",
    ],
    surnames: &[
        "Smith",
        "Jones",
        "Taylor",
        "Brown",
        "Williams",
        "Wilson",
        "Johnson",
        "Davies",
        "Robinson",
        "Wright",
        "Thompson",
        "Evans",
        "Walker",
        "White",
        "Roberts",
        "Green",
        "Hall",
        "Wood",
        "Jackson",
        "Clarke",
        "Hughes",
        "Edwards",
        "Turner",
        "Hill",
        "Moore",
        "Cooper",
        "Ward",
        "Morris",
        "King",
        "Harris",
        "Baker",
        "Lewis",
        "Martin",
        "Clark",
        "Allen",
        "Mitchell",
        "Carter",
        "Phillips",
        "Parker",
        "Bennett",
        "Cook",
        "Shaw",
        "Price",
        "Bailey",
        "Fletcher",
        "Pearson",
        "Armstrong",
        "Campbell",
        "Stewart",
        "Campbell-Hughes",
        "Grant",
        "Francis",
        "Bryan",
    ],
    eal: 0.02,
};

pub(super) const IRISH: NamePool = NamePool {
    boys: &[
        "Sean", "Cian", "Oisin", "Conor", "Liam", "Patrick", "Darragh", "Rory",
    ],
    girls: &[
        "Niamh", "Aoife", "Ciara", "Siobhan", "Saoirse", "Roisin", "Orla", "Grainne",
    ],
    surnames: &[
        "Murphy",
        "Kelly",
        "O'Sullivan",
        "Byrne",
        "Ryan",
        "Walsh",
        "O'Connor",
        "Doyle",
        "McCarthy",
        "O'Brien",
    ],
    eal: 0.02,
};

pub(super) const EAST_EUROPEAN: NamePool = NamePool {
    boys: &[
        "Jakub", "Filip", "Oliwer", "Antoni", "Luca", "Andrei", "Matei", "David", "Nikola",
        "Szymon", "Lukas", "Mateusz", "Kacper", "Darius",
    ],
    girls: &[
        "Zuzanna",
        "Julia",
        "Maja",
        "Hanna",
        "Alexandra",
        "Maria",
        "Natalia",
        "Ioana",
        "Emilia",
        "Lena",
        "Oliwia",
        "Daria",
        "Bianca",
    ],
    surnames: &[
        "Nowak",
        "Wójcik",
        "Kaczmarek",
        "Mazur",
        "Krawczyk",
        "Popescu",
        "Ionescu",
        "Popa",
        "Dumitru",
        "Horváth",
        "Balogh",
        "Lupu",
        "Kazlauskas",
        "Bērziņš",
    ],
    eal: 0.8,
};

pub(super) const SOUTH_ASIAN_MUSLIM: NamePool = NamePool {
    boys: &[
        "Muhammad", "Ayaan", "Ibrahim", "Yusuf", "Zayn", "Rayan", "Hamza", "Ali", "Omar", "Adam",
        "Musa", "Abdullah", "Zakariya", "Eesa",
    ],
    girls: &[
        "Aisha", "Maryam", "Zara", "Fatima", "Amira", "Inaya", "Hafsa", "Zainab", "Hania", "Safa",
        "Khadijah", "Anaya", "Raiya",
    ],
    surnames: &[
        "Khan",
        "Ahmed",
        "Hussain",
        "Ali",
        "Begum",
        "Rahman",
        "Islam",
        "Shah",
        "Iqbal",
        "Akhtar",
        "Mahmood",
        "Uddin",
        "Chowdhury",
        "Miah",
        "Bibi",
    ],
    eal: 0.6,
};

pub(super) const INDIAN: NamePool = NamePool {
    boys: &[
        "Arjun", "Aarav", "Vihaan", "Ishaan", "Rohan", "Krish", "Dev", "Arav", "Jaskaran", "Aryan",
    ],
    girls: &[
        "Priya", "Saanvi", "Riya", "Aanya", "Diya", "Anika", "Simran", "Navneet", "Ishani", "Meera",
    ],
    surnames: &[
        "Patel", "Singh", "Kaur", "Sharma", "Gupta", "Kumar", "Mistry", "Shah", "Joshi", "Sandhu",
        "Gill",
    ],
    eal: 0.5,
};

pub(super) const AFRICAN: NamePool = NamePool {
    boys: &[
        "Emmanuel",
        "David",
        "Daniel",
        "Samuel",
        "Joshua",
        "Chidi",
        "Kwame",
        "Tobi",
        "Femi",
        "Kofi",
        "Ayomide",
        "Tunde",
        "Abdirahman",
    ],
    girls: &[
        "Blessing", "Grace", "Precious", "Favour", "Adaeze", "Amara", "Chioma", "Esther", "Abena",
        "Temi", "Deborah", "Hodan",
    ],
    surnames: &[
        "Okafor", "Adeyemi", "Mensah", "Okoro", "Boateng", "Adebayo", "Ogunleye", "Asante",
        "Nwosu", "Mohamed", "Osei", "Eze", "Abdi", "Yusuf",
    ],
    eal: 0.45,
};

pub(super) const CHINESE: NamePool = NamePool {
    boys: &[
        "Wei", "Jun", "Hao", "Yichen", "Ethan", "Ryan", "Jason", "Zihan",
    ],
    girls: &[
        "Mei", "Xin", "Yu", "Chloe", "Ling", "Jasmine", "Yuxi", "Hannah",
    ],
    surnames: &[
        "Wang", "Li", "Zhang", "Chen", "Liu", "Wong", "Lam", "Cheung", "Chan", "Ng",
    ],
    eal: 0.7,
};

pub(super) const MIDDLE_EASTERN: NamePool = NamePool {
    boys: &[
        "Omar", "Yusuf", "Ahmad", "Karim", "Ali", "Hassan", "Mustafa", "Sami",
    ],
    girls: &[
        "Layla", "Noor", "Sara", "Mariam", "Yasmin", "Lana", "Rania", "Huda",
    ],
    surnames: &[
        "Hassan",
        "Karimi",
        "Mohammadi",
        "Rahimi",
        "Haddad",
        "Aziz",
        "Saleh",
        "Al-Sayed",
        "Ibrahim",
        "Hosseini",
    ],
    eal: 0.75,
};

pub(super) fn pool(heritage: Heritage) -> &'static NamePool {
    match heritage {
        Heritage::British => &BRITISH,
        Heritage::Irish => &IRISH,
        Heritage::EastEuropean => &EAST_EUROPEAN,
        Heritage::SouthAsianMuslim => &SOUTH_ASIAN_MUSLIM,
        Heritage::Indian => &INDIAN,
        Heritage::African => &AFRICAN,
        Heritage::Chinese => &CHINESE,
        Heritage::MiddleEastern => &MIDDLE_EASTERN,
    }
}

pub(super) const PARENT_WOMEN: &[&str] = &[
    "Sarah",
    "Emma",
    "Laura",
    "Rachel",
    "Claire",
    "Gemma",
    "Hannah",
    "Kelly",
    "Lisa",
    "Nicola",
    "Amy",
    "Charlotte",
    "Jade",
    "Stacey",
    "Natalie",
    "Rebecca",
    "Zoe",
    "Kirsty",
];
pub(super) const PARENT_MEN: &[&str] = &[
    "Daniel",
    "James",
    "Mark",
    "Paul",
    "Matthew",
    "Christopher",
    "Andrew",
    "Lee",
    "Craig",
    "Stephen",
    "Ryan",
    "Adam",
    "Carl",
    "Jamie",
    "Gareth",
    "Wayne",
    "Liam",
    "Darren",
];
pub(super) const OLDER_WOMEN: &[&str] = &[
    "Margaret",
    "Susan",
    "Linda",
    "Patricia",
    "Christine",
    "Janet",
    "Carol",
    "Jean",
    "Sandra",
];
pub(super) const OLDER_MEN: &[&str] = &[
    "John", "David", "Peter", "Michael", "Robert", "Brian", "Keith", "Alan", "Graham",
];

/// Adults of British or Irish heritage get names of their own generation; for other
/// heritages the children's pools are already a plausible mix of ages.
pub(super) fn adult_name(
    rng: &mut ChaCha8Rng,
    heritage: Heritage,
    female: bool,
    older: bool,
) -> &'static str {
    let british = matches!(heritage, Heritage::British | Heritage::Irish);
    match (british, female, older) {
        (true, true, false) => pick(rng, PARENT_WOMEN),
        (true, false, false) => pick(rng, PARENT_MEN),
        (true, true, true) => pick(rng, OLDER_WOMEN),
        (true, false, true) => pick(rng, OLDER_MEN),
        (false, true, _) => pick(rng, pool(heritage).girls),
        (false, false, _) => pick(rng, pool(heritage).boys),
    }
}
