//! The binary format: a [`Header`] and fixed-size [`Record`]s.

/// The first eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"SPINTRC\0";

/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;

/// Bytes in a [`Header`].
pub const HEADER_SIZE: usize = 32;

/// Bytes in a [`Record`].
pub const RECORD_SIZE: usize = 32;

/// Bytes of text a name or mark record carries (longer text is cut).
pub const NAME_BYTES: usize = 16;

/// What a segment starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// [`VERSION`] when written by this crate.
    pub version: u16,
    /// CPUs whose rings the segment may hold.
    pub cpus: u16,
    /// TSC ticks per second: turns timestamps into time.
    pub tsc_hz: u64,
}

impl Header {
    /// The header's bytes: magic, version, record size, CPU count, 4 reserved bytes, TSC
    /// Hz, 8 reserved bytes.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut bytes = [0; HEADER_SIZE];
        bytes[..8].copy_from_slice(&MAGIC);
        bytes[8..10].copy_from_slice(&self.version.to_le_bytes());
        bytes[10..12].copy_from_slice(&(RECORD_SIZE as u16).to_le_bytes());
        bytes[12..14].copy_from_slice(&self.cpus.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.tsc_hz.to_le_bytes());
        bytes
    }

    /// Reads a header; `None` if the magic or the record size is wrong (the version is
    /// returned for the caller to judge).
    pub fn decode(bytes: &[u8; HEADER_SIZE]) -> Option<Self> {
        if bytes[..8] != MAGIC || u16_at(bytes, 10) as usize != RECORD_SIZE {
            return None;
        }
        Some(Self {
            version: u16_at(bytes, 8),
            cpus: u16_at(bytes, 12),
            tsc_hz: u64_at(bytes, 16),
        })
    }
}

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// `id` = the thread switched out, `a` = the thread switched in, `small` = a
    /// [`SwitchReason`].
    Switch = 1,
    /// A blocked thread made runnable: `id` = the thread, `small` = a [`WakeSource`],
    /// `a` = the source's id (thread, vector or task), `b` = 1 if the thread had not
    /// blocked yet (the wake cancelled a block in progress), else 0.
    WakeThread = 2,
    /// A task queued by its waker: `id` = the task, `small`/`a` as for `WakeThread`.
    WakeTask = 3,
    /// A hardware interrupt handler starts: `id` = the vector.
    IrqEnter = 4,
    /// It ends: `id` = the vector.
    IrqExit = 5,
    /// An executor starts polling a task: `id` = the task, `a` = the executor, `b` = the
    /// thread running the executor.
    PollBegin = 6,
    /// The poll returned: `id` = the task, `small` = 1 if the task finished, `a`, `b` as
    /// for `PollBegin`.
    PollEnd = 7,
    /// A thread was created: `id` = it, `a` = the creating thread.
    Spawn = 8,
    /// A thread ended: `id` = it.
    Exit = 9,
    /// The CPU's idle thread halts the CPU.
    IdleEnter = 10,
    /// An interrupt ended the halt.
    IdleExit = 11,
    /// A mark from kernel code (`trace::mark`): `small` = text length, text in `a`, `b`.
    Mark = 12,
    /// A thread's name: `id` = the thread, `small` = length, text in `a`, `b`.
    ThreadName = 13,
    /// A task's name: `id` = the task, `small` = length, text in `a`, `b`.
    TaskName = 14,
    /// An executor's name: `id` = the executor, `small` = length, text in `a`, `b`.
    ExecutorName = 15,
    /// This CPU's ring overflowed: `a` = how many of its oldest records were lost; stamped
    /// with the time of the first record kept after them.
    Dropped = 16,
    /// A panic is contained (the thread starts unwinding to its catch frame): `id` = the
    /// thread, `small` = 1 if it was polling a task, then `a` = the task.
    Panic = 17,
    /// This CPU's timer was armed: `small` = 1 and `a` = when it is due (nanoseconds
    /// since boot), or `small` = 0: it was stopped (nothing due on this CPU).
    TimerArmed = 18,
}

impl Kind {
    /// The kind with this code, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        use Kind::*;
        Some(match code {
            1 => Switch,
            2 => WakeThread,
            3 => WakeTask,
            4 => IrqEnter,
            5 => IrqExit,
            6 => PollBegin,
            7 => PollEnd,
            8 => Spawn,
            9 => Exit,
            10 => IdleEnter,
            11 => IdleExit,
            12 => Mark,
            13 => ThreadName,
            14 => TaskName,
            15 => ExecutorName,
            16 => Dropped,
            17 => Panic,
            18 => TimerArmed,
            _ => return None,
        })
    }
}

/// Why a thread gave up its CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SwitchReason {
    /// It yielded.
    Yield = 0,
    /// An interrupt (its slice ran out, or a wake) preempted it.
    Preempt = 1,
    /// It blocked on a wait queue or parked.
    Block = 2,
    /// It went to sleep until a deadline.
    Sleep = 3,
    /// It ended.
    Exit = 4,
}

impl SwitchReason {
    /// The reason with this code, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        use SwitchReason::*;
        Some(match code {
            0 => Yield,
            1 => Preempt,
            2 => Block,
            3 => Sleep,
            4 => Exit,
            _ => return None,
        })
    }
}

/// Who woke a thread or a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WakeSource {
    /// Code running on a thread (`a` = its id).
    Thread = 0,
    /// An interrupt handler (`a` = its vector).
    Interrupt = 1,
    /// A task being polled (`a` = its id).
    Task = 2,
}

impl WakeSource {
    /// The source with this code, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        use WakeSource::*;
        Some(match code {
            0 => Thread,
            1 => Interrupt,
            2 => Task,
            _ => return None,
        })
    }
}

/// One event: 32 bytes.
///
/// ```text
///   0..8    tsc     u64   when (the CPU's TSC)
///   8       kind    u8    a `Kind` code
///   9       cpu     u8    the CPU it happened on
///   10      small   u8    kind-specific (reason, source, text length)
///   11      -       u8    reserved, 0
///   12..16  id      u32   kind-specific (thread, task, vector)
///   16..24  a       u64   kind-specific
///   24..32  b       u64   kind-specific
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Record {
    /// When, in TSC ticks.
    pub tsc: u64,
    /// A [`Kind`] code.
    pub kind: u8,
    /// The CPU it happened on.
    pub cpu: u8,
    /// Kind-specific.
    pub small: u8,
    /// Kind-specific.
    pub id: u32,
    /// Kind-specific.
    pub a: u64,
    /// Kind-specific.
    pub b: u64,
}

impl Record {
    /// The record's bytes.
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut bytes = [0; RECORD_SIZE];
        bytes[..8].copy_from_slice(&self.tsc.to_le_bytes());
        bytes[8] = self.kind;
        bytes[9] = self.cpu;
        bytes[10] = self.small;
        bytes[12..16].copy_from_slice(&self.id.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.a.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.b.to_le_bytes());
        bytes
    }

    /// Reads a record (any bytes are a record; its kind may be unknown).
    pub fn decode(bytes: &[u8; RECORD_SIZE]) -> Self {
        Self {
            tsc: u64_at(bytes, 0),
            kind: bytes[8],
            cpu: bytes[9],
            small: bytes[10],
            id: u32_at(bytes, 12),
            a: u64_at(bytes, 16),
            b: u64_at(bytes, 24),
        }
    }

    /// The kind, if the code is known.
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_code(self.kind)
    }

    /// Packs up to [`NAME_BYTES`] bytes of `text` into `small`, `a` and `b` (cut at a
    /// character boundary).
    pub fn with_text(mut self, text: &str) -> Self {
        let mut end = text.len().min(NAME_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; NAME_BYTES];
        bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        self.small = end as u8;
        self.a = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        self.b = u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes"));
        self
    }

    /// The bytes packed by [`with_text`](Self::with_text): `None` if the length claims
    /// more than [`NAME_BYTES`].
    pub fn text_bytes(&self) -> Option<([u8; NAME_BYTES], usize)> {
        let len = usize::from(self.small);
        if len > NAME_BYTES {
            return None;
        }
        let mut bytes = [0u8; NAME_BYTES];
        bytes[..8].copy_from_slice(&self.a.to_le_bytes());
        bytes[8..].copy_from_slice(&self.b.to_le_bytes());
        Some((bytes, len))
    }

    /// The text packed by [`with_text`](Self::with_text), if it is valid.
    #[cfg(feature = "std")]
    pub fn text(&self) -> Option<String> {
        let (bytes, len) = self.text_bytes()?;
        String::from_utf8(bytes[..len].to_vec()).ok()
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_bytes() {
        let record = Record {
            tsc: 0x0102_0304_0506_0708,
            kind: Kind::Switch as u8,
            cpu: 3,
            small: SwitchReason::Sleep as u8,
            id: 42,
            a: 7,
            b: u64::MAX,
        };
        assert_eq!(Record::decode(&record.encode()), record);
        assert_eq!(record.kind(), Some(Kind::Switch));
    }

    #[test]
    fn text_is_packed_and_cut_at_a_character_boundary() {
        let named = Record::default().with_text("console-reader");
        assert_eq!(named.text().as_deref(), Some("console-reader"));
        let long = Record::default().with_text("a name longer than sixteen bytes");
        assert_eq!(long.text().as_deref(), Some("a name longer th"));
        // "é" is two bytes: a cut inside it backs off to the boundary.
        let accented = Record::default().with_text("123456789012345é");
        assert_eq!(accented.text().as_deref(), Some("123456789012345"));
        let bad = Record {
            small: 17,
            ..Record::default()
        };
        assert_eq!(bad.text(), None);
    }

    #[test]
    fn headers_round_trip_and_refuse_other_data() {
        let header = Header {
            version: VERSION,
            cpus: 4,
            tsc_hz: 3_000_000_000,
        };
        assert_eq!(Header::decode(&header.encode()), Some(header));
        let mut wrong = header.encode();
        wrong[0] = b'X';
        assert_eq!(Header::decode(&wrong), None);
        let mut other_size = header.encode();
        other_size[10] = 64;
        assert_eq!(Header::decode(&other_size), None);
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            if let Some(kind) = Kind::from_code(code) {
                assert_eq!(kind as u8, code);
            }
            if let Some(reason) = SwitchReason::from_code(code) {
                assert_eq!(reason as u8, code);
            }
            if let Some(source) = WakeSource::from_code(code) {
                assert_eq!(source as u8, code);
            }
        }
        assert_eq!(Kind::from_code(0), None);
    }
}
