//! The editor driven byte by byte, its output played on a small VT100 model: after every
//! byte the screen must show the prompt and the line with the cursor in place.

use std::{string::String, vec, vec::Vec};

use super::*;

const PROMPT: &str = "> ";

/// Enough of a VT100 for what the editor writes: text, CR, LF (with the tty's CR), BS,
/// BEL, and `ESC [` n `C`/`D`/`K`/`H`/`J`.
#[derive(Debug, Default)]
struct Terminal {
    rows: Vec<Vec<u8>>,
    row: usize,
    column: usize,
    bells: usize,
}

impl Terminal {
    fn play(&mut self, output: &str) {
        let mut bytes = output.bytes();
        while let Some(byte) = bytes.next() {
            match byte {
                b'\r' => self.column = 0,
                b'\n' => (self.row, self.column) = (self.row + 1, 0),
                0x08 => self.column = self.column.saturating_sub(1),
                0x07 => self.bells += 1,
                0x1b => self.control(&mut bytes),
                _ => self.put(byte),
            }
        }
    }

    fn control(&mut self, bytes: &mut impl Iterator<Item = u8>) {
        assert_eq!(bytes.next(), Some(b'['), "only CSI sequences are written");
        let mut count = String::new();
        let command = loop {
            match bytes.next().expect("unterminated sequence") {
                digit @ b'0'..=b'9' => count.push(char::from(digit)),
                command => break command,
            }
        };
        let count: usize = count.parse().unwrap_or(1);
        match command {
            b'C' => self.column += count,
            b'D' => self.column = self.column.saturating_sub(count),
            b'K' => {
                let column = self.column;
                self.row_mut().truncate(column);
            }
            b'H' => (self.row, self.column) = (0, 0),
            b'J' => self.rows.clear(),
            other => panic!("unexpected sequence ending in {}", char::from(other)),
        }
    }

    fn row_mut(&mut self) -> &mut Vec<u8> {
        if self.rows.len() <= self.row {
            self.rows.resize(self.row + 1, Vec::new());
        }
        &mut self.rows[self.row]
    }

    fn put(&mut self, byte: u8) {
        let column = self.column;
        let row = self.row_mut();
        if row.len() <= column {
            row.resize(column + 1, b' ');
        }
        row[column] = byte;
        self.column += 1;
    }

    fn text(&self, row: usize) -> String {
        let text = self.rows.get(row).cloned().unwrap_or_default();
        String::from_utf8(text).unwrap().trim_end().into()
    }

    fn current(&self) -> String {
        self.text(self.row)
    }
}

/// An editor, started, and the terminal it draws on.
struct Session {
    editor: LineEditor,
    terminal: Terminal,
    entered: Vec<String>,
}

impl Session {
    fn new() -> Self {
        let mut session = Self {
            editor: LineEditor::new(PROMPT),
            terminal: Terminal::default(),
            entered: Vec::new(),
        };
        session.out(|editor, out| editor.start(out));
        session
    }

    fn out(&mut self, action: impl FnOnce(&mut LineEditor, &mut String)) {
        let mut output = String::new();
        action(&mut self.editor, &mut output);
        self.terminal.play(&output);
    }

    /// Types `bytes` one at a time, checking the screen after each; a line that is
    /// entered is recorded and the prompt started again, as the console does.
    fn type_bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &byte in bytes {
            let mut output = String::new();
            let entered = self.editor.feed(byte, &mut output);
            self.terminal.play(&output);
            if let Some(line) = entered {
                self.entered.push(line.as_str().into());
                self.out(|editor, out| editor.start(out));
            }
            self.assert_screen_matches();
        }
        self
    }

    fn assert_screen_matches(&self) {
        let shown = format!("{PROMPT}{}", self.editor.line.as_str());
        assert_eq!(
            self.terminal.current(),
            shown.trim_end(),
            "the row shows the line"
        );
        assert_eq!(
            self.terminal.column,
            PROMPT.len() + self.editor.cursor,
            "the cursor is in place on {shown:?}"
        );
    }

    fn line(&self) -> &str {
        self.editor.line.as_str()
    }
}

fn entered(bytes: &[u8]) -> Vec<String> {
    let mut session = Session::new();
    session.type_bytes(bytes);
    session.entered
}

#[test]
fn splits_on_lf_cr_and_crlf_without_empty_extras() {
    assert_eq!(
        entered(b"ps\nhelp\r\nstats\rpoweroff\n"),
        ["ps", "help", "stats", "poweroff"]
    );
    assert_eq!(entered(b"\n\n"), ["", ""]);
    assert_eq!(entered(b"\r\r\n"), ["", ""]);
}

#[test]
fn backspace_is_0x7f_and_0x08() {
    assert_eq!(entered(b"pz\x08s\nhelq\x7fp\n"), ["ps", "help"]);
    assert_eq!(entered(b"\x7f\x08ps\n"), ["ps"], "nothing to erase");
}

#[test]
fn left_and_right_move_and_typing_inserts_at_the_cursor() {
    assert_eq!(entered(b"ps\x1b[D\x1b[Dx\n"), ["xps"]);
    assert_eq!(
        entered(b"pz\x1b[D\x7fs\n"),
        ["sz"],
        "backspace left of the cursor"
    );
    assert_eq!(entered(b"sleep 5\x1b[D\x1b[D\x1b[C1\n"), ["sleep 15"]);
    assert_eq!(
        entered(b"ab\x1b[C\x1b[Cc\n"),
        ["abc"],
        "right stops at the end"
    );
    assert_eq!(
        entered(b"ab\x1b[D\x1b[D\x1b[Dc\n"),
        ["cab"],
        "left stops at 0"
    );
    assert_eq!(
        entered(b"sp\x02\x02p\x06\x06s\n"),
        ["psps"],
        "Ctrl-B, Ctrl-F"
    );
}

#[test]
fn home_end_and_delete_in_every_encoding() {
    for (home, end) in [
        (&b"\x1b[H"[..], &b"\x1b[F"[..]),
        (b"\x1bOH", b"\x1bOF"),
        (b"\x1b[1~", b"\x1b[4~"),
        (b"\x1b[7~", b"\x1b[8~"),
        (b"\x01", b"\x05"),
    ] {
        let input = [b"leep", home, b"s", end, b" 9\n"].concat();
        assert_eq!(entered(&input), ["sleep 9"], "{input:?}");
    }
    assert_eq!(entered(b"pqs\x1b[D\x1b[D\x1b[3~\n"), ["ps"], "Delete");
    assert_eq!(entered(b"psx\x1b[D\x04\n"), ["ps"], "Ctrl-D");
    assert_eq!(
        entered(b"ps\x1b[3~\x04\n"),
        ["ps"],
        "nothing under the cursor"
    );
}

#[test]
fn modifiers_and_ss3_arrows_are_understood() {
    assert_eq!(entered(b"ps\x1b[1;5D\x1bODx\n"), ["xps"]);
    assert_eq!(entered(b"a\x1b[1;5Hb\n"), ["ba"]);
}

#[test]
fn unknown_sequences_are_swallowed_whole() {
    assert_eq!(
        entered(b"st\x1b[15~at\x1b[2;3Rs\n"),
        ["stats"],
        "F5, a report"
    );
    assert_eq!(entered(b"p\x1bOPs\n"), ["ps"], "SS3 F1");
    assert_eq!(entered(b"p\x1bbs\n"), ["ps"], "Alt-b");
    assert_eq!(
        entered(b"p\x1b[?25;1$xs\n"),
        ["ps"],
        "private markers, intermediates"
    );
    assert_eq!(entered(b"p\x00\x1cs\n"), ["ps"], "unbound control bytes");
    assert_eq!(entered(b"p\x1b[99999999999~s\n"), ["ps"], "huge parameter");
}

#[test]
fn a_control_byte_ends_a_broken_sequence_and_counts() {
    assert_eq!(entered(b"ps\x1b[1\n"), ["ps"], "Enter is never swallowed");
    assert_eq!(entered(b"ps\x1b\n"), ["ps"]);
    assert_eq!(
        entered(b"p\x1b\x1b[Dx\n"),
        ["xp"],
        "ESC restarts the sequence"
    );
}

#[test]
fn sequences_split_across_reads_decode_the_same() {
    let mut session = Session::new();
    session.type_bytes(b"ps\x1b");
    session.type_bytes(b"[");
    session.type_bytes(b"D");
    assert_eq!(session.editor.cursor, 1);
    session
        .type_bytes(b"\x1b[")
        .type_bytes(b"3")
        .type_bytes(b"~");
    assert_eq!(session.line(), "p");
    session
        .type_bytes(b"\x1bO")
        .type_bytes(b"H")
        .type_bytes(b"x\r");
    session.type_bytes(b"\n");
    assert_eq!(
        session.entered,
        ["xp"],
        "CRLF split across reads is one Enter"
    );
}

#[test]
fn ctrl_u_k_and_w_erase() {
    assert_eq!(entered(b"bogus\x15ps\n"), ["ps"]);
    assert_eq!(
        entered(b"xxps\x1b[D\x1b[D\x15\n"),
        ["ps"],
        "Ctrl-U keeps the rest"
    );
    assert_eq!(entered(b"psxx\x1b[D\x1b[D\x0b\n"), ["ps"], "Ctrl-K");
    assert_eq!(entered(b"spawn foo\x17task\n"), ["spawn task"]);
    assert_eq!(
        entered(b"spawn foo  \x17task\n"),
        ["spawn task"],
        "trailing spaces"
    );
    assert_eq!(
        entered(b"a b\x17\x17\x17c\n"),
        ["c"],
        "down to the start, then nothing"
    );
    assert_eq!(
        entered(b"sleep 10 ms\x1b[D\x1b[D\x1b[D\x17\x17spawn\n"),
        ["spawn ms"],
        "mid-line"
    );
}

#[test]
fn ctrl_c_abandons_the_line() {
    let mut session = Session::new();
    session.type_bytes(b"poweroff\x03");
    assert_eq!(session.terminal.text(0), "> poweroff^C");
    assert_eq!(session.line(), "");
    session.type_bytes(b"ps\n");
    assert_eq!(session.entered, ["ps"]);
    assert_eq!(
        entered(b"ps\n\x1b[Ax\x03\x1b[A\n"),
        ["ps", "ps"],
        "history survives"
    );
}

#[test]
fn ctrl_l_clears_and_redraws() {
    let mut session = Session::new();
    session.type_bytes(b"ps\nsleep\x1b[D\x0c");
    assert_eq!(session.terminal.row, 0);
    assert_eq!(session.terminal.text(0), "> sleep");
    assert_eq!(session.terminal.column, 6);
}

#[test]
fn up_and_down_walk_the_history() {
    assert_eq!(entered(b"ps\nstats\n\x1b[A\x1b[A\n"), ["ps", "stats", "ps"]);
    assert_eq!(entered(b"ps\nstats\n\x1bOA\n"), ["ps", "stats", "stats"]);
    assert_eq!(
        entered(b"ps\n\x10\x10\x10\n"),
        ["ps", "ps"],
        "stops at the oldest"
    );
    assert_eq!(
        entered(b"ps\nstats\nhe\x1b[A\x1b[A\x1b[B\x1b[Blp\n"),
        ["ps", "stats", "help"],
        "down past the newest brings back the draft"
    );
    assert_eq!(
        entered(b"ps\n\x1b[Bx\n"),
        ["ps", "x"],
        "down without a walk"
    );
    assert_eq!(
        entered(b"sleep 1\n\x1b[A0\n"),
        ["sleep 1", "sleep 10"],
        "a recalled line is edited at its end"
    );
}

#[test]
fn the_history_skips_blanks_and_repeats_and_keeps_the_newest() {
    let mut session = Session::new();
    session.type_bytes(b"ps\nps\n  \n\n");
    session.type_bytes(b"\x1b[A\x1b[A\x03");
    assert_eq!(session.editor.history.len, 1);
    for number in 0..HISTORY + 10 {
        session.type_bytes(format!("sleep {number}\n").as_bytes());
    }
    assert_eq!(session.editor.history.len, HISTORY);
    let up = b"\x1b[A".repeat(HISTORY + 5);
    session.type_bytes(&up);
    assert_eq!(session.line(), "sleep 10", "the oldest kept");
    session.type_bytes(b"\x1b[B");
    assert_eq!(session.line(), "sleep 11");
}

#[test]
fn an_overlong_line_is_refused_not_cut() {
    let mut session = Session::new();
    let long = vec![b'x'; MAX_LINE + 20];
    session.type_bytes(&long);
    assert_eq!(session.line().len(), MAX_LINE);
    assert_eq!(session.terminal.bells, 20, "every refused byte rings");
    let message = format!("line too long (max {MAX_LINE} characters)");
    assert_eq!(session.terminal.text(1), message, "said once");
    session.type_bytes(b"\n");
    assert!(session.entered.is_empty(), "not run");
    assert_eq!(
        session.terminal.text(3),
        format!("{message}: discarded"),
        "said at Enter"
    );
    assert_eq!(session.line(), "");
    session.type_bytes(b"ps\n");
    assert_eq!(session.entered, ["ps"]);
}

#[test]
fn a_full_line_that_is_fixed_by_hand_runs() {
    let mut session = Session::new();
    let mut input = vec![b'x'; MAX_LINE + 1];
    input.extend_from_slice(b"\x7f\n");
    session.type_bytes(&input);
    assert_eq!(session.entered, ["x".repeat(MAX_LINE - 1)]);
    let exactly = [vec![b'y'; MAX_LINE], b"\n".to_vec()].concat();
    session.type_bytes(&exactly);
    assert_eq!(
        session.entered[1],
        "y".repeat(MAX_LINE),
        "the limit itself fits"
    );
    assert_eq!(session.terminal.bells, 1);
}

#[test]
fn other_output_goes_between_erase_and_draw() {
    let mut session = Session::new();
    session.type_bytes(b"sleep 10\x1b[D\x1b[D");
    session.out(|editor, out| {
        editor.erase(out);
        out.push_str("[    1.000] INFO  a log line\n");
        editor.draw(out);
    });
    assert_eq!(session.terminal.text(0), "[    1.000] INFO  a log line");
    session.assert_screen_matches();
    session.type_bytes(b"0\n");
    assert_eq!(session.entered, ["sleep 010"]);
}

#[test]
fn an_inactive_editor_draws_nothing() {
    let mut editor = LineEditor::new(PROMPT);
    let mut output = String::new();
    editor.draw(&mut output);
    assert_eq!(output, "", "not started");
    editor.start(&mut output);
    for &byte in b"ps\n" {
        editor.feed(byte, &mut output);
    }
    output.clear();
    editor.erase(&mut output);
    editor.draw(&mut output);
    assert_eq!(output, "", "a command is running");
}

#[test]
fn the_common_case_writes_little() {
    let mut editor = LineEditor::new(PROMPT);
    let mut output = String::new();
    editor.start(&mut output);
    for &byte in b"ps\x7f" {
        editor.feed(byte, &mut output);
    }
    assert_eq!(
        output, "> ps\x1b[1D\x1b[K",
        "typing echoes; backspace erases"
    );
}
