//! gitgate policy (see DESIGN §7).
