//! Turning a stream of bytes from a terminal into lines. Portable; host-tested.

use alloc::string::String;

/// Longest line kept; further characters are ignored (and not echoed).
pub(crate) const MAX_LINE: usize = 200;

/// What the caller should do after a byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Edit {
    /// Echo this character (it was added to the line).
    Echo(char),
    /// Erase the last character on screen (backspace).
    Erase,
    /// A complete line (without its terminator).
    Line(String),
    /// Nothing to show.
    Nothing,
}

/// A minimal line editor: printable ASCII, backspace/delete, CR, LF or CRLF.
#[derive(Debug, Default)]
pub(crate) struct LineEditor {
    line: String,
    after_carriage_return: bool,
}

impl LineEditor {
    /// An empty editor.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Takes one byte of input.
    pub(crate) fn feed(&mut self, byte: u8) -> Edit {
        let after_carriage_return =
            core::mem::replace(&mut self.after_carriage_return, byte == b'\r');
        match byte {
            b'\n' if after_carriage_return => Edit::Nothing,
            b'\r' | b'\n' => Edit::Line(core::mem::take(&mut self.line)),
            0x08 | 0x7f => match self.line.pop() {
                Some(_) => Edit::Erase,
                None => Edit::Nothing,
            },
            0x20..=0x7e if self.line.len() < MAX_LINE => {
                self.line.push(char::from(byte));
                Edit::Echo(char::from(byte))
            }
            _ => Edit::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::{string::ToString, vec::Vec};

    use super::*;

    fn lines(input: &[u8]) -> Vec<String> {
        let mut editor = LineEditor::new();
        input
            .iter()
            .filter_map(|&byte| match editor.feed(byte) {
                Edit::Line(line) => Some(line),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn splits_on_lf_cr_and_crlf_without_empty_extras() {
        assert_eq!(
            lines(b"ps\nhelp\r\nstats\rpoweroff\n"),
            ["ps", "help", "stats", "poweroff"]
        );
        assert_eq!(lines(b"\n\n"), ["", ""]);
    }

    #[test]
    fn backspace_and_delete_erase() {
        assert_eq!(lines(b"pz\x08s\nhelq\x7fp\n"), ["ps", "help"]);
        let mut editor = LineEditor::new();
        assert_eq!(editor.feed(0x7f), Edit::Nothing, "nothing to erase");
    }

    #[test]
    fn ignores_control_bytes_and_overlong_input() {
        assert_eq!(lines(b"p\x1b\x00s\n"), ["ps"]);
        let long: Vec<u8> = core::iter::repeat_n(b'x', MAX_LINE + 50)
            .chain(*b"\n")
            .collect();
        assert_eq!(lines(&long), ["x".repeat(MAX_LINE).to_string()]);
    }
}
