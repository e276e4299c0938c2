//! The host CPU time a process has used so far, from `/proc/<pid>/stat`: its `utime` and
//! `stime` fields (14 and 15, `man 5 proc`), which count every thread of the process, in
//! clock ticks. The second field is the command name in parentheses, which may itself
//! hold spaces and parentheses, so fields are counted from the last `)`.
//!
//! Also two host-wide counters that explain a run's figures: the load average
//! (`/proc/loadavg`: on a shared host, how much the run was disturbed), and how many
//! connections the host's TCP dropped because a listening socket's queue was full
//! (`ListenOverflows` in `/proc/net/netstat`). QEMU's user network accepts forwarded
//! connections on a socket with a backlog of one, so a client opening many connections
//! at once sees some of its SYNs dropped and retried a second later, whatever the guest.

use std::{fs, time::Duration};

use anyhow::Context;

/// The unit of `/proc`'s times: `USER_HZ`, `sysconf(_SC_CLK_TCK)`, which Linux fixes at
/// 100 on x86-64 (part of its ABI, whatever the kernel's own tick rate).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of process `pid` so far.
pub(crate) fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    cpu_time_in(&text).with_context(|| format!("cannot read the CPU times in {path}: `{text}`"))
}

/// User plus system CPU time in the text of a `stat` file.
fn cpu_time_in(stat: &str) -> anyhow::Result<Duration> {
    let (_, after_name) = stat.rsplit_once(')').context("no `(comm)` field")?;
    // After the name: field 3 (state) is the first, so utime (14) is the 12th.
    let mut fields = after_name.split_whitespace().skip(11);
    let mut ticks = || -> anyhow::Result<u64> {
        let field = fields.next().context("too few fields")?;
        field
            .parse()
            .with_context(|| format!("`{field}` is not a tick count"))
    };
    let total = ticks()? + ticks()?;
    Ok(Duration::from_millis(total * 1000 / TICKS_PER_SECOND))
}

/// The host's load average over the last minute, if `/proc/loadavg` can be read.
pub(crate) fn load_average() -> Option<f64> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    first_load(&text)
}

fn first_load(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Connections the host dropped so far because a listen queue was full (every socket of
/// the host's network namespace), if `/proc/net/netstat` can be read.
pub(crate) fn listen_overflows() -> Option<u64> {
    let text = fs::read_to_string("/proc/net/netstat").ok()?;
    netstat_counter(&text, "TcpExt", "ListenOverflows")
}

/// The counter `name` of `group` in `/proc/net/netstat`'s text: a line of names
/// (`TcpExt: SyncookiesSent ...`) followed by a line of values (`TcpExt: 0 ...`).
fn netstat_counter(text: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|line| line.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let index = names.split_whitespace().position(|field| field == name)?;
    values.split_whitespace().nth(index)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QEMU's line, shortened after the fields read.
    const QEMU: &str = "4242 (qemu-system-x86) S 4200 4242 4200 0 -1 4194560 31024 0 0 0 \
                        1234 567 0 0 20 0 5 0 123456 1234567890 12345";

    #[test]
    fn adds_user_and_system_time() {
        assert_eq!(cpu_time_in(QEMU).unwrap(), Duration::from_millis(18_010));
    }

    #[test]
    fn a_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let odd = QEMU.replace("(qemu-system-x86)", "(a) b (c))");
        assert_eq!(cpu_time_in(&odd).unwrap(), Duration::from_millis(18_010));
    }

    #[test]
    fn a_short_or_garbled_line_is_an_error() {
        assert!(cpu_time_in("4242 (qemu) S 1 2 3").is_err());
        assert!(cpu_time_in("no name here").is_err());
        assert!(cpu_time_in(&QEMU.replace(" 1234 567", " x 567")).is_err());
    }

    #[test]
    fn the_load_is_the_first_field() {
        assert_eq!(first_load("11.84 10.89 7.24 5/812 123456\n"), Some(11.84));
        assert_eq!(first_load(""), None);
        assert!(load_average().is_some());
    }

    #[test]
    fn finds_a_counter_by_name() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 0 2800 2801\n\
                    IpExt: InNoRoutes ListenOverflows\n\
                    IpExt: 7 9\n";
        assert_eq!(
            netstat_counter(text, "TcpExt", "ListenOverflows"),
            Some(2800)
        );
        assert_eq!(netstat_counter(text, "IpExt", "ListenOverflows"), Some(9));
        assert_eq!(netstat_counter(text, "TcpExt", "Nope"), None);
        assert_eq!(
            netstat_counter("TcpExt: ListenOverflows\n", "TcpExt", "ListenOverflows"),
            None
        );
        assert!(listen_overflows().is_some());
    }

    #[test]
    fn reads_this_process() {
        assert!(cpu_time(std::process::id()).is_ok());
        assert!(cpu_time(u32::MAX).is_err());
    }
}
