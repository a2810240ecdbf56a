//! What commands print: JSON documents and aligned tables on stdout, and progress lines on
//! stderr that redraw in place, so that stdout stays data a script can read.

use std::io::Write;

use serde::Serialize;

/// Prints `value` as one pretty JSON document.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A table on stdout: every column but the last is padded to its width.
pub struct Table {
    widths: Vec<usize>,
}

impl Table {
    /// Prints the header line.
    pub fn new(columns: &[(&str, usize)]) -> Self {
        let table = Self {
            widths: columns.iter().map(|(_, width)| *width).collect(),
        };
        let header: Vec<String> = columns.iter().map(|(name, _)| (*name).to_owned()).collect();
        table.row(&header);
        table
    }

    pub fn row(&self, cells: &[String]) {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            match self.widths.get(i) {
                Some(&width) if i + 1 < cells.len() => {
                    line.push_str(&format!("{cell:<width$} "));
                }
                _ => line.push_str(cell),
            }
        }
        println!("{line}");
    }
}

/// Redraws the progress line on stderr.
pub fn progress(line: &str) {
    eprint!("\r{line}");
}

/// Ends the progress line, so that what follows starts on a line of its own.
pub fn progress_done() {
    eprintln!();
}

/// `[#########-----------]`: `done` of `total` as a bar `width` characters wide.
pub fn bar(done: i64, total: i64, width: usize) -> String {
    let filled = (done.max(0) as usize * width / total.max(1) as usize).min(width);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_is_always_its_width_and_full_only_when_done() {
        assert_eq!(bar(0, 0, 4), "[----]");
        assert_eq!(bar(45, 100, 20), "[#########-----------]");
        assert_eq!(bar(100, 100, 4), "[####]");
        assert_eq!(bar(7, 5, 4), "[####]");
    }
}
