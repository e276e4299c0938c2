//! The console's line editor: turns the bytes a terminal sends into an edited line, and
//! says what to draw. Pure logic, portable and host-tested (`kernel/tests/console_line.rs`):
//! it reads no device and writes its terminal output into any [`fmt::Write`].
//!
//! Keys: printable ASCII inserts at the cursor; Left/Right, Home/End (and Ctrl-B/F/A/E)
//! move; Backspace (0x7f or 0x08) and Delete (and Ctrl-D) erase; Up/Down (and Ctrl-P/N)
//! walk a bounded history; Ctrl-U erases to the line start, Ctrl-K to its end, Ctrl-W the
//! word before the cursor; Ctrl-C abandons the line; Ctrl-L clears the screen and redraws;
//! CR, LF or CRLF ends the line. Escape sequences (CSI `ESC [` and SS3 `ESC O`) may arrive
//! split across reads; unknown ones are swallowed whole.
//!
//! Nothing here allocates: the line and the history are inline arrays, so the console
//! can redraw its line from the print path in any context, interrupt handlers included.
//! Drawing assumes the prompt and the line fit on one terminal row.

use core::{
    fmt::{self, Write},
    ops::Range,
};

/// Longest line accepted. Input beyond it is refused (with a bell and a message), and a
/// line that overflowed is discarded at Enter rather than run cut short.
pub(crate) const MAX_LINE: usize = 200;

/// Lines the history keeps; older ones are forgotten.
pub(crate) const HISTORY: usize = 32;

/// A line of printable ASCII, at most [`MAX_LINE`] bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    bytes: [u8; MAX_LINE],
    len: usize,
}

impl Line {
    /// The empty line.
    pub(crate) const EMPTY: Self = Self {
        bytes: [0; MAX_LINE],
        len: 0,
    };

    /// The text. Only printable ASCII is ever stored, so it is always valid UTF-8.
    pub(crate) fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn tail(&self, from: usize) -> &str {
        self.as_str().get(from..).unwrap_or_default()
    }

    fn byte(&self, at: usize) -> u8 {
        self.bytes[at]
    }

    /// Inserts `byte` at `at`; `false` (and no change) when the line is full.
    fn insert(&mut self, at: usize, byte: u8) -> bool {
        if self.len == MAX_LINE {
            return false;
        }
        self.bytes.copy_within(at..self.len, at + 1);
        self.bytes[at] = byte;
        self.len += 1;
        true
    }

    fn remove(&mut self, range: Range<usize>) {
        self.bytes.copy_within(range.end..self.len, range.start);
        self.len -= range.len();
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What a byte, or a whole escape sequence, asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Char(u8),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    EraseToStart,
    EraseToEnd,
    EraseWord,
    Cancel,
    Redraw,
}

/// Where the decoder is inside an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sequence {
    /// Not in one.
    Ground,
    /// After ESC.
    Escape,
    /// After `ESC [`: the first numeric parameter so far, and whether it has ended.
    Csi { param: u16, first_done: bool },
    /// After `ESC O`: the next byte is the key.
    Ss3,
}

/// Bytes to keys. Keeps its state between bytes, so a sequence split across reads (or
/// interrupts) decodes the same as one that arrived whole.
#[derive(Debug, Clone, Copy)]
struct Decoder {
    sequence: Sequence,
    after_carriage_return: bool,
}

impl Decoder {
    const fn new() -> Self {
        Self {
            sequence: Sequence::Ground,
            after_carriage_return: false,
        }
    }

    fn decode(&mut self, byte: u8) -> Option<Key> {
        let after_carriage_return =
            core::mem::replace(&mut self.after_carriage_return, byte == b'\r');
        // A control byte ends any sequence and counts on its own (ESC starts a new one),
        // so a garbled sequence can never swallow an Enter.
        if byte < 0x20 || byte == 0x7f {
            self.sequence = Sequence::Ground;
            return match byte {
                0x1b => {
                    self.sequence = Sequence::Escape;
                    None
                }
                b'\n' if after_carriage_return => None,
                _ => control_key(byte),
            };
        }
        match self.sequence {
            Sequence::Ground => Some(Key::Char(byte)),
            Sequence::Escape => {
                self.sequence = match byte {
                    b'[' => Sequence::Csi {
                        param: 0,
                        first_done: false,
                    },
                    b'O' => Sequence::Ss3,
                    _ => Sequence::Ground, // Alt+key: swallowed
                };
                None
            }
            Sequence::Csi { param, first_done } => self.csi(param, first_done, byte),
            Sequence::Ss3 => {
                self.sequence = Sequence::Ground;
                final_key(byte, 0)
            }
        }
    }

    /// One byte inside `ESC [`: parameters and intermediates (0x20-0x3f) accumulate or
    /// are skipped, a final byte (0x40-0x7e) ends the sequence.
    fn csi(&mut self, param: u16, first_done: bool, byte: u8) -> Option<Key> {
        match byte {
            b'0'..=b'9' if !first_done => {
                let param = param
                    .saturating_mul(10)
                    .saturating_add(u16::from(byte - b'0'));
                self.sequence = Sequence::Csi { param, first_done };
                None
            }
            0x20..=0x3f => {
                self.sequence = Sequence::Csi {
                    param,
                    first_done: first_done || byte == b';',
                };
                None
            }
            _ => {
                self.sequence = Sequence::Ground;
                final_key(byte, param)
            }
        }
    }
}

/// The key a control byte stands for (Emacs-style bindings, as in readline).
fn control_key(byte: u8) -> Option<Key> {
    Some(match byte {
        b'\r' | b'\n' => Key::Enter,
        0x08 | 0x7f => Key::Backspace,
        0x01 => Key::Home,         // Ctrl-A
        0x02 => Key::Left,         // Ctrl-B
        0x03 => Key::Cancel,       // Ctrl-C
        0x04 => Key::Delete,       // Ctrl-D
        0x05 => Key::End,          // Ctrl-E
        0x06 => Key::Right,        // Ctrl-F
        0x0b => Key::EraseToEnd,   // Ctrl-K
        0x0c => Key::Redraw,       // Ctrl-L
        0x0e => Key::Down,         // Ctrl-N
        0x10 => Key::Up,           // Ctrl-P
        0x15 => Key::EraseToStart, // Ctrl-U
        0x17 => Key::EraseWord,    // Ctrl-W
        _ => return None,
    })
}

/// The key a CSI or SS3 sequence's final byte names, with its first parameter: xterm's
/// `ESC [ A` (modifiers such as `ESC [ 1 ; 5 D` are ignored), VT220's `ESC [ 3 ~`.
fn final_key(byte: u8, param: u16) -> Option<Key> {
    match (byte, param) {
        (b'A', _) => Some(Key::Up),
        (b'B', _) => Some(Key::Down),
        (b'C', _) => Some(Key::Right),
        (b'D', _) => Some(Key::Left),
        (b'H', _) | (b'~', 1 | 7) => Some(Key::Home),
        (b'F', _) | (b'~', 4 | 8) => Some(Key::End),
        (b'~', 3) => Some(Key::Delete),
        _ => None,
    }
}

/// The last [`HISTORY`] lines entered, in a ring: a full history forgets its oldest.
#[derive(Debug, Clone, Copy)]
struct History {
    entries: [Line; HISTORY],
    /// Index of the oldest entry.
    oldest: usize,
    len: usize,
}

impl History {
    const fn new() -> Self {
        Self {
            entries: [Line::EMPTY; HISTORY],
            oldest: 0,
            len: 0,
        }
    }

    /// Remembers `line`, unless it is blank or repeats the newest entry.
    fn push(&mut self, line: &Line) {
        if line.as_str().trim().is_empty() || self.back(0) == Some(line) {
            return;
        }
        if self.len == HISTORY {
            self.entries[self.oldest] = *line;
            self.oldest = (self.oldest + 1) % HISTORY;
        } else {
            self.entries[(self.oldest + self.len) % HISTORY] = *line;
            self.len += 1;
        }
    }

    /// The entry `steps` back from the newest (0 is the newest).
    fn back(&self, steps: usize) -> Option<&Line> {
        (steps < self.len).then(|| &self.entries[(self.oldest + self.len - 1 - steps) % HISTORY])
    }
}

/// Terminal output: text and the few VT100 controls the editor needs. Writes cannot fail
/// in a way the editor could act on (the UART never fails one), so errors are dropped.
struct Screen<'a>(&'a mut dyn Write);

impl Screen<'_> {
    fn text(&mut self, text: &str) {
        let _ = self.0.write_str(text);
    }

    fn left(&mut self, columns: usize) {
        if columns > 0 {
            let _ = write!(self.0, "\x1b[{columns}D");
        }
    }

    fn right(&mut self, columns: usize) {
        if columns > 0 {
            let _ = write!(self.0, "\x1b[{columns}C");
        }
    }

    fn erase_to_end(&mut self) {
        self.text("\x1b[K");
    }
}

/// The line being typed, its cursor, the history, and the prompt that goes with them.
#[derive(Debug)]
pub(crate) struct LineEditor {
    prompt: &'static str,
    line: Line,
    /// Byte offset of the cursor in `line`.
    cursor: usize,
    decoder: Decoder,
    history: History,
    /// How far back the history walk is (`None`: editing the user's own line).
    recalled: Option<usize>,
    /// The user's own line, kept while walking the history.
    draft: Line,
    /// Input was refused since the line filled up: the line is not what was typed.
    overflowed: bool,
    /// Waiting for input with the prompt on screen (not while a command runs).
    active: bool,
}

impl LineEditor {
    /// An editor drawing `prompt`; inactive (nothing on screen) until [`start`](Self::start).
    pub(crate) const fn new(prompt: &'static str) -> Self {
        Self {
            prompt,
            line: Line::EMPTY,
            cursor: 0,
            decoder: Decoder::new(),
            history: History::new(),
            recalled: None,
            draft: Line::EMPTY,
            overflowed: false,
            active: false,
        }
    }

    /// Shows the prompt (at the start of a row) and takes input from now on.
    pub(crate) fn start(&mut self, out: &mut dyn Write) {
        self.active = true;
        self.draw(out);
    }

    /// Draws the prompt and the line, cursor in place, from the start of a row; nothing
    /// while inactive. With [`erase`](Self::erase), what other output goes between.
    pub(crate) fn draw(&self, out: &mut dyn Write) {
        if self.active {
            let mut screen = Screen(out);
            screen.text(self.prompt);
            screen.text(self.line.as_str());
            screen.left(self.line.len() - self.cursor);
        }
    }

    /// Erases the prompt and the line, leaving the cursor at the start of their row.
    pub(crate) fn erase(&self, out: &mut dyn Write) {
        if self.active {
            Screen(out).text("\r\x1b[K");
        }
    }

    /// Takes one byte of input and draws its effect. Returns the line when it is entered;
    /// the editor is then inactive until the next [`start`](Self::start).
    pub(crate) fn feed(&mut self, byte: u8, out: &mut dyn Write) -> Option<Line> {
        let key = self.decoder.decode(byte)?;
        let mut screen = Screen(out);
        match key {
            Key::Char(byte) => self.insert(byte, &mut screen),
            Key::Enter => return self.enter(&mut screen),
            Key::Backspace => {
                self.erase_range(self.cursor.saturating_sub(1)..self.cursor, &mut screen)
            }
            Key::Delete => self.erase_range(
                self.cursor..(self.cursor + 1).min(self.line.len()),
                &mut screen,
            ),
            Key::EraseToStart => self.erase_range(0..self.cursor, &mut screen),
            Key::EraseToEnd => self.erase_range(self.cursor..self.line.len(), &mut screen),
            Key::EraseWord => self.erase_range(self.word_start()..self.cursor, &mut screen),
            Key::Left => self.move_to(self.cursor.saturating_sub(1), &mut screen),
            Key::Right => self.move_to((self.cursor + 1).min(self.line.len()), &mut screen),
            Key::Home => self.move_to(0, &mut screen),
            Key::End => self.move_to(self.line.len(), &mut screen),
            Key::Up => self.recall(
                self.recalled.map_or(Some(0), |steps| Some(steps + 1)),
                &mut screen,
            ),
            Key::Down => self.recall(
                self.recalled.and_then(|steps| steps.checked_sub(1)),
                &mut screen,
            ),
            Key::Cancel => self.cancel(&mut screen),
            Key::Redraw => {
                screen.text("\x1b[H\x1b[2J");
                self.draw(screen.0);
            }
        }
        None
    }

    fn insert(&mut self, byte: u8, screen: &mut Screen<'_>) {
        if self.line.insert(self.cursor, byte) {
            self.cursor += 1;
            self.redraw_from(self.cursor - 1, self.cursor - 1, false, screen);
        } else if self.overflowed {
            screen.text("\x07");
        } else {
            self.overflowed = true;
            let _ = write!(
                screen.0,
                "\x07\nline too long (max {MAX_LINE} characters)\n"
            );
            self.draw(screen.0);
        }
    }

    fn enter(&mut self, screen: &mut Screen<'_>) -> Option<Line> {
        screen.text("\n");
        let line = core::mem::replace(&mut self.line, Line::EMPTY);
        let overflowed = self.reset();
        if overflowed {
            let _ = writeln!(
                screen.0,
                "line too long (max {MAX_LINE} characters): discarded"
            );
            self.draw(screen.0);
            return None;
        }
        self.history.push(&line);
        self.active = false;
        Some(line)
    }

    fn cancel(&mut self, screen: &mut Screen<'_>) {
        screen.text("^C\n");
        self.line = Line::EMPTY;
        self.reset();
        self.draw(screen.0);
    }

    /// Forgets the cursor, the history walk and an overflow; returns whether there was one.
    fn reset(&mut self) -> bool {
        self.cursor = 0;
        self.recalled = None;
        core::mem::replace(&mut self.overflowed, false)
    }

    fn erase_range(&mut self, range: Range<usize>, screen: &mut Screen<'_>) {
        if range.is_empty() {
            return;
        }
        let old_cursor = self.cursor;
        self.line.remove(range.clone());
        self.cursor = range.start;
        // Erasing by hand means the user has seen the overflow and fixes the line.
        self.overflowed = false;
        self.redraw_from(old_cursor, range.start, true, screen);
    }

    fn move_to(&mut self, position: usize, screen: &mut Screen<'_>) {
        if position < self.cursor {
            screen.left(self.cursor - position);
        } else {
            screen.right(position - self.cursor);
        }
        self.cursor = position;
    }

    /// Shows the history entry `steps` back (`None`: the user's own line again). Walking
    /// off the oldest entry does nothing.
    fn recall(&mut self, steps: Option<usize>, screen: &mut Screen<'_>) {
        let line = match steps {
            Some(steps) => match self.history.back(steps) {
                Some(entry) => *entry,
                None => return,
            },
            None if self.recalled.is_some() => self.draft,
            None => return,
        };
        if self.recalled.is_none() {
            self.draft = self.line;
        }
        self.recalled = steps;
        let old_cursor = self.cursor;
        self.line = line;
        self.cursor = line.len();
        self.overflowed = false;
        self.redraw_from(old_cursor, 0, true, screen);
    }

    /// Where Ctrl-W's word starts: back over spaces, then over the word.
    fn word_start(&self) -> usize {
        let mut start = self.cursor;
        while start > 0 && self.line.byte(start - 1) == b' ' {
            start -= 1;
        }
        while start > 0 && self.line.byte(start - 1) != b' ' {
            start -= 1;
        }
        start
    }

    /// Brings the screen up to date after the line changed from offset `from` on: moves
    /// there from `old_cursor` (where the screen's cursor is), rewrites the rest of the
    /// line (erasing what is left over if it `shrank`) and puts the cursor back.
    fn redraw_from(&self, old_cursor: usize, from: usize, shrank: bool, screen: &mut Screen<'_>) {
        if from < old_cursor {
            screen.left(old_cursor - from);
        } else {
            screen.right(from - old_cursor);
        }
        screen.text(self.line.tail(from));
        if shrank {
            screen.erase_to_end();
        }
        screen.left(self.line.len() - self.cursor);
    }
}

#[cfg(test)]
#[path = "line/tests.rs"] // also when `kernel/tests/console_line.rs` includes this file
mod tests;
