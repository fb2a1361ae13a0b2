use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::plan::{Entry, Status};

/// The ledger as a table: FIELD | VALUE | CHART VALUE | STATUS | WHY.
pub fn ledger(entries: &[Entry], color: bool) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if !color {
        t.force_no_tty();
    } else {
        t.enforce_styling();
    }
    t.set_header(["FIELD", "VALUE", "CHART VALUE", "STATUS", "WHY"]);
    for e in entries {
        let mut status = Cell::new(e.status.as_str());
        if color {
            status = status.fg(match e.status {
                Status::Mapped => Color::Green,
                Status::Defaulted => Color::Blue,
                Status::Dropped => Color::Red,
                Status::Overridden => Color::Magenta,
            });
        }
        let value = if e.value.chars().count() > 48 { format!("{}…", e.value.chars().take(47).collect::<String>()) } else { e.value.clone() };
        t.add_row([Cell::new(&e.field), Cell::new(value), Cell::new(&e.path), status, Cell::new(&e.why)]);
    }
    t.to_string()
}
