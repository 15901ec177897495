//! Printing results and failures.
//!
//! Results go to stdout, failures to stderr as `lease: <message>`. With
//! `--json`, a failure is also printed to stdout as
//! `{"error": {"kind": ..., "message": ...}}` so scripts read one stream.
//! A closed stdout (`lease ... | head`) ends the command quietly with
//! success, as for any Unix filter.

use std::io::{self, Write};
use std::process::ExitCode;

use serde::Serialize;

use super::exit;
use crate::direct::{DirectError, ErrorClass};

/// A command that did not succeed: what to say and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub kind: &'static str,
    pub message: String,
    pub json: bool,
}

impl Failure {
    /// A failure of `kind` with exit status `code`.
    pub fn new(code: u8, kind: &'static str, message: impl Into<String>) -> Failure {
        Failure { code, kind, message: message.into(), json: false }
    }

    /// A direct-mode error, classed for its exit status.
    pub fn direct(err: &DirectError) -> Failure {
        let (code, kind) = match err.class() {
            ErrorClass::Usage => (exit::USAGE, "usage"),
            ErrorClass::Refused => (exit::REFUSED, "refused"),
            ErrorClass::Data => (exit::DATA, "data"),
            ErrorClass::Io => (exit::IO, "io"),
            ErrorClass::Retryable => (exit::TEMPFAIL, "retryable"),
        };
        Failure::new(code, kind, err.to_string())
    }

    /// Also report the failure as JSON on stdout when `json` is set.
    pub fn json(mut self, json: bool) -> Failure {
        self.json = json;
        self
    }

    fn stdout_closed() -> Failure {
        Failure::new(exit::OK, "ok", "")
    }

    /// Prints the failure and gives the exit status.
    pub fn report(self) -> ExitCode {
        if self.code == exit::OK {
            return ExitCode::SUCCESS;
        }
        eprintln!("lease: {}", self.message);
        if self.json {
            let error = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
            // stdout may be gone; the message is on stderr either way.
            let _ = writeln!(io::stdout().lock(), "{error}");
        }
        ExitCode::from(self.code)
    }
}

/// Prints `text` to stdout.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Err(Failure::stdout_closed()),
        Err(err) => Err(Failure::new(exit::IO, "io", format!("cannot write to stdout: {err}"))),
    }
}

/// Prints `value` as one line of JSON.
pub fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let mut line = serde_json::to_string(value).map_err(|err| {
        Failure::new(exit::SOFTWARE, "internal", format!("cannot encode JSON: {err}"))
    })?;
    line.push('\n');
    print(&line)
}

/// Prints `value` as JSON if `json`, else `text`.
pub fn print_either(json: bool, value: &impl Serialize, text: &str) -> Result<(), Failure> {
    if json { print_json(value) } else { print(text) }
}

/// Lays out rows in columns separated by two spaces, each as wide as its
/// widest cell; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header_row: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let pad = width - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![vec!["1".to_owned(), "long-name".to_owned(), "x".to_owned()]];
        assert_eq!(table(&["A", "NAME", "Z"], &rows), "A  NAME       Z\n1  long-name  x\n");
    }
}
