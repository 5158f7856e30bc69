//! `report.html`: one self-contained page, readable at a glance. The verdict in a coloured
//! badge, the three times as big numbers, the timeline chart inlined as SVG, then the tables.
//! Styles are inline and nothing is loaded from anywhere: the page must open from a laptop
//! on a plane, from an incident ticket's attachment, or from a machine cut off the network.

use super::facts::{self, Table};
use super::text::html as esc;
use crate::drill::model::DrillRecord;

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #222;
  max-width: 1040px; margin: 24px auto; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.badge { display: inline-block; padding: 4px 14px; border-radius: 14px; color: #fff;
  font-weight: bold; font-size: 1.1em; vertical-align: middle; }
.badge.good { background: #1b7f3b; } .badge.bad { background: #b3261e; }
.badge.neutral { background: #9a7400; }
.about { color: #555; margin: 8px 0 0; }
.about span { margin-right: 18px; white-space: nowrap; }
.times { display: flex; gap: 16px; flex-wrap: wrap; margin: 20px 0; }
.time { flex: 1; min-width: 220px; border: 1px solid #ddd; border-radius: 8px; padding: 12px 16px; }
.time .big { font-size: 2.4em; font-weight: bold; }
.time .big.none { color: #999; font-size: 1.6em; }
.time .name { font-weight: bold; } .time .more { color: #666; font-size: 0.9em; }
figure { margin: 0; } svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.95em; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; }
th { background: #f5f5f5; }
tr.good td:last-child { color: #1b7f3b; } tr.bad td { background: #fdecea; }
tr.bad td:last-child { color: #b3261e; font-weight: bold; }
code { font-size: 0.95em; }
";

pub fn render(record: &DrillRecord, svg: &str) -> String {
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n\
         <h1>Drill <code>{}</code>",
        esc(&facts::title(record)),
        esc(&record.runbook),
    );
    for (text, tone) in facts::badges(record) {
        page.push_str(&format!(
            " <span class=\"badge {}\">{}</span>",
            tone.class(),
            esc(&text)
        ));
    }
    page.push_str("</h1>\n<p class=\"about\">");
    for (label, value) in facts::about(record) {
        if label != "verdict" && label != "undo" {
            page.push_str(&format!("<span>{label}: <b>{}</b></span> ", esc(&value)));
        }
    }
    page.push_str("</p>\n</header>\n<section class=\"times\">\n");
    for moment in facts::moments(record) {
        let (big, origin, other) = moment.headline(record);
        let (class, more) = match moment.at_ms {
            Some(_) => ("big", format!("{origin}<br>{}", esc(&other))),
            None => ("big none", String::new()),
        };
        page.push_str(&format!(
            "<div class=\"time\"><div class=\"name\">{}</div><div class=\"{class}\">{}</div>\
             <div class=\"more\">{more}</div></div>\n",
            moment.name,
            esc(&big),
        ));
    }
    page.push_str("</section>\n<figure>\n");
    page.push_str(svg);
    page.push_str("</figure>\n<h2>What breakglass itself sent</h2>\n<table>\n");
    for (label, value) in facts::cost(record) {
        page.push_str(&format!(
            "<tr><th>{label}</th><td>{}</td></tr>\n",
            esc(&value)
        ));
    }
    page.push_str("</table>\n<h2>Expectations</h2>\n");
    table(&mut page, &facts::expectations(record));
    page.push_str("<h2>Steps</h2>\n");
    table(&mut page, &facts::steps(record));
    page.push_str("</body>\n</html>\n");
    page
}

fn table(page: &mut String, table: &Table) {
    if table.rows.is_empty() {
        page.push_str(&format!("<p>{}</p>\n", table.empty));
        return;
    }
    page.push_str("<table>\n<tr>");
    for head in &table.head {
        page.push_str(&format!("<th>{}</th>", esc(head)));
    }
    page.push_str("</tr>\n");
    for row in &table.rows {
        page.push_str(&format!("<tr class=\"{}\">", row.tone.class()));
        for cell in &row.cells {
            page.push_str(&format!("<td>{}</td>", esc(cell)));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}
