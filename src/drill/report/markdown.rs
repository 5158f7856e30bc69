//! `report.md`: the report's facts for people who read it in a terminal, a merge request or a
//! postmortem document. GitHub-flavoured tables; every value from the record escaped.

use super::facts::{self, Table};
use super::text::markdown;
use crate::drill::model::DrillRecord;

pub fn render(record: &DrillRecord) -> String {
    let mut md = format!("# {}\n\n", markdown(&facts::title(record)));
    list(&mut md, &facts::about(record));

    md.push_str("\n## Times\n\n");
    let times = Table {
        head: vec!["", "from the run's start", "from the drill's start"],
        rows: facts::moments(record)
            .iter()
            .map(|m| facts::Row {
                cells: vec![m.name.to_owned(), m.since_run(record), m.since_drill()],
                tone: facts::Tone::Neutral,
            })
            .collect(),
        empty: "",
    };
    table(&mut md, &times);

    md.push_str("\n## What breakglass itself sent\n\n");
    list(&mut md, &facts::cost(record));
    md.push_str("\n## Expectations\n\n");
    table(&mut md, &facts::expectations(record));
    md.push_str("\n## Steps\n\n");
    table(&mut md, &facts::steps(record));
    md
}

fn list(md: &mut String, items: &[(&str, String)]) {
    for (label, value) in items {
        md.push_str(&format!("- {label}: {}\n", markdown(value)));
    }
}

fn table(md: &mut String, table: &Table) {
    if table.rows.is_empty() {
        md.push_str(table.empty);
        md.push('\n');
        return;
    }
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    md.push_str(&line(table.head.iter().map(|h| markdown(h)).collect()));
    md.push_str(&line(table.head.iter().map(|_| "---".to_owned()).collect()));
    for row in &table.rows {
        md.push_str(&line(row.cells.iter().map(|c| markdown(c)).collect()));
    }
}
