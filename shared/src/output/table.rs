use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::plan::{Entry, Status};

/// A table in the project's style; colour only when asked (NO_COLOR and pipes get none).
pub fn table(header: [&str; 5], color: bool) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(header);
    t
}

/// A value cut to 48 characters for a table cell.
fn cut(s: &str) -> String {
    if s.chars().count() > 48 { format!("{}…", s.chars().take(47).collect::<String>()) } else { s.to_string() }
}

/// The ledger as a table: FIELD | VALUE | CHART VALUE | STATUS | WHY.
pub fn ledger(entries: &[Entry], color: bool) -> String {
    let mut t = table(["FIELD", "VALUE", "CHART VALUE", "STATUS", "WHY"], color);
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
        t.add_row([Cell::new(&e.field), Cell::new(cut(&e.value)), Cell::new(&e.path), status, Cell::new(&e.why)]);
    }
    t.to_string()
}

/// The render check as a table: FIELD | OLD | RENDERED | STATUS | WHY.
pub fn fidelity(rows: &[crate::render::Row], color: bool) -> String {
    use crate::render::RowStatus;
    let mut t = table(["FIELD", "OLD", "RENDERED", "STATUS", "WHY"], color);
    let cut = |s: &Option<String>| cut(s.as_deref().unwrap_or("-"));
    for r in rows {
        let label = if r.unexplained { format!("{} (unexplained)", r.status.as_str()) } else { r.status.as_str().to_string() };
        let mut status = Cell::new(label);
        if color {
            status = status.fg(match (r.status, r.unexplained) {
                (_, true) => Color::Red,
                (RowStatus::Preserved, _) => Color::Green,
                (RowStatus::AddedByChart, _) => Color::Blue,
                _ => Color::Yellow,
            });
        }
        t.add_row([Cell::new(&r.field), Cell::new(cut(&r.old)), Cell::new(cut(&r.rendered)), status, Cell::new(&r.why)]);
    }
    t.to_string()
}
