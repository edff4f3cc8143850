//! Today's call list for the office: who to call, in what order, why; siblings together.
