//! The `sanlock` personality: `leased` or `lease` run through a link named
//! `sanlock` takes sanlock 3.8's command line, so that scripts, packaging
//! and sanlock's own test suite drive leased unchanged.
//!
//! ```text
//! sanlock daemon [-D] [-w 0|1] ...     → daemon.rs: a Config, then leased
//! sanlock client VERB ...              → client.rs: sanlock's socket protocol
//! sanlock direct VERB ...              → direct.rs: crate::direct, no daemon
//! sanlock version | help | -h
//! ```
//!
//! sanlock's options are one letter and a value (`-s LOCKSPACE`, `-o 1`,
//! also written `-o1`); only `-D` stands alone. What each verb prints, and
//! its exit status (0, or 1 for any failure), follows Debian's sanlock 3.8.5
//! where scripts read it (`lookup done 0`, `init done -2`, the dump
//! columns); the differences are listed in sanlock(8) as leased documents
//! it (see `crate::cli::docs`). Covered by `tests/sanlock_cli.rs`.

mod client;
mod daemon;
mod direct;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use crate::ondisk::name::Name;
use crate::spec::{LockspaceSpec, ResourceSpec, RindexSpec, parse_size, split_fields};

/// The name the personality answers to.
pub const PROGRAM: &str = "sanlock";

/// Whether `argv0`'s file name is `sanlock`.
pub fn invoked_as_sanlock(argv0: Option<&OsString>) -> bool {
    argv0.and_then(|arg| Path::new(arg).file_name()).is_some_and(|name| name == PROGRAM)
}

/// Runs sanlock's command line (`args` without argv[0]).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = match args.into_iter().map(OsString::into_string).collect() {
        Ok(args) => args,
        Err(arg) => {
            eprintln!("{PROGRAM}: argument is not UTF-8: {}", arg.to_string_lossy());
            return ExitCode::from(FAILED);
        }
    };
    let Some((command, rest)) = args.split_first() else {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    };
    let code = match command.as_str() {
        "daemon" => daemon::run(rest),
        "client" => client::run(rest),
        "direct" => direct::run(rest),
        "version" | "-V" | "--version" => {
            println!("{PROGRAM} 3.8.5 (leased {})", env!("CARGO_PKG_VERSION"));
            OK
        }
        "help" | "-h" | "--help" => {
            print!("{}", usage());
            OK
        }
        // sanlock takes a client action with no `client` before it.
        _ => client::run(&args),
    };
    ExitCode::from(code)
}

/// Exit status of a verb that did what it was asked.
const OK: u8 = 0;
/// sanlock's exit status for every failure, usage errors included.
const FAILED: u8 = 1;

/// A verb's options: `-x VALUE` pairs in order, and the words that are not
/// options (a dump's PATH, `client command`'s program and arguments).
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    pairs: Vec<(char, String)>,
    flags: Vec<char>,
    words: Vec<String>,
}

/// Why a command line was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum UsageError {
    #[error("unknown option: {0}")]
    Unknown(char),
    #[error("option -{0} needs a value")]
    NoValue(char),
    #[error("option -{0} is required")]
    Missing(char),
    #[error("option -{option}: '{value}' is not {expected}")]
    Bad { option: char, value: String, expected: &'static str },
    #[error("{0}")]
    Spec(#[from] crate::spec::SpecError),
    #[error("{0}")]
    Other(String),
}

impl Options {
    /// Parses `args`: `-x VALUE` or `-xVALUE` for each letter in `valued`,
    /// `-x` alone for each in `bare`. With `rest_after` set, everything
    /// after that option's value is taken as words (`-c PATH ARGS...`).
    fn parse(
        args: &[String],
        valued: &str,
        bare: &str,
        rest_after: Option<char>,
    ) -> Result<Options, UsageError> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut chars = arg.chars();
            let (Some('-'), Some(letter)) = (chars.next(), chars.next()) else {
                options.words.push(arg.clone());
                continue;
            };
            if bare.contains(letter) {
                options.flags.push(letter);
                continue;
            }
            if !valued.contains(letter) {
                return Err(UsageError::Unknown(letter));
            }
            let inline = chars.as_str();
            let value = if inline.is_empty() {
                args.next().cloned().ok_or(UsageError::NoValue(letter))?
            } else {
                inline.to_owned()
            };
            options.pairs.push((letter, value));
            if rest_after == Some(letter) {
                options.words.extend(args.by_ref().cloned());
            }
        }
        Ok(options)
    }

    /// The last value given for `letter`.
    fn get(&self, letter: char) -> Option<&str> {
        self.pairs.iter().rev().find(|(l, _)| *l == letter).map(|(_, v)| v.as_str())
    }

    fn has(&self, letter: char) -> bool {
        self.flags.contains(&letter)
    }

    /// `letter`'s value as a number, if given.
    fn number<T: std::str::FromStr>(
        &self,
        letter: char,
        expected: &'static str,
    ) -> Result<Option<T>, UsageError> {
        self.get(letter)
            .map(|value| {
                value.parse().map_err(|_| UsageError::Bad {
                    option: letter,
                    value: value.to_owned(),
                    expected,
                })
            })
            .transpose()
    }

    /// `letter`'s value as 0 or 1, if given.
    fn switch(&self, letter: char) -> Result<Option<bool>, UsageError> {
        match self.get(letter) {
            None => Ok(None),
            Some("0") => Ok(Some(false)),
            Some("1") => Ok(Some(true)),
            Some(value) => {
                Err(UsageError::Bad { option: letter, value: value.to_owned(), expected: "0 or 1" })
            }
        }
    }

    fn lockspace(&self) -> Result<Option<LockspaceSpec>, UsageError> {
        Ok(self.get('s').map(LockspaceSpec::parse).transpose()?)
    }

    fn resource(&self) -> Result<Option<ResourceSpec>, UsageError> {
        Ok(self.get('r').map(ResourceSpec::parse).transpose()?)
    }

    fn rindex(&self) -> Result<RindexSpec, UsageError> {
        Ok(RindexSpec::parse(self.get('x').ok_or(UsageError::Missing('x'))?)?)
    }

    /// `-Z 512|4096`: the sector size, if given.
    fn sector_size(&self) -> Result<Option<crate::ondisk::SectorSize>, UsageError> {
        self.get('Z')
            .map(|value| {
                parse_size(value).and_then(crate::ondisk::SectorSize::from_bytes).ok_or_else(|| {
                    UsageError::Bad {
                        option: 'Z',
                        value: value.to_owned(),
                        expected: "512 or 4096",
                    }
                })
            })
            .transpose()
    }

    /// `-A 1M|2M|4M|8M`: the align size, if given.
    fn align(&self) -> Result<Option<crate::ondisk::geometry::AlignSize>, UsageError> {
        self.get('A')
            .map(|value| {
                parse_size(value)
                    .and_then(crate::ondisk::geometry::AlignSize::from_bytes)
                    .ok_or_else(|| UsageError::Bad {
                        option: 'A',
                        value: value.to_owned(),
                        expected: "1M, 2M, 4M or 8M",
                    })
            })
            .transpose()
    }
}

/// `-e NAME[:OFFSET]`, the rindex verbs' entry: a name (empty for none) and
/// an offset (0 for none).
fn rindex_entry(text: Option<&str>) -> Result<(Name, u64), UsageError> {
    let Some(text) = text else { return Ok((Name::EMPTY, 0)) };
    let bad = |expected| UsageError::Bad { option: 'e', value: text.to_owned(), expected };
    let fields = split_fields(text).map_err(|_| bad("NAME[:OFFSET]"))?;
    let (name, offset) = match fields.as_slice() {
        [] => (String::new(), None),
        [name] => (name.clone(), None),
        [name, offset] => (name.clone(), Some(offset)),
        _ => return Err(bad("NAME[:OFFSET]")),
    };
    let name = Name::new(&name).map_err(|_| bad("a name of at most 48 bytes"))?;
    let offset = match offset {
        None => 0,
        Some(offset) => parse_size(offset).ok_or_else(|| bad("NAME:OFFSET with a byte offset"))?,
    };
    Ok((name, offset))
}

/// Reports a usage error as sanlock does (on stderr, exit 1).
fn usage_failed(err: &UsageError) -> u8 {
    eprintln!("{PROGRAM}: {err}");
    FAILED
}

/// The exit status of a verb whose result is `rv`: sanlock fails on any
/// negative result.
fn status_of(rv: i32) -> u8 {
    if rv < 0 { FAILED } else { OK }
}

/// sanlock's usage text, with what leased accepts.
pub fn usage() -> String {
    format!(
        "Usage:\n\
         {PROGRAM} <command> <action> ...\n\
         (leased {version}, answering to sanlock 3.8's command line)\n\n\
         commands:\n  \
           daemon        start daemon\n  \
           client        send request to daemon (default type if none given)\n  \
           direct        access storage directly (no coordination with daemon)\n  \
           help          print this usage (defaults in parens)\n  \
           version       print version\n\n\
         {PROGRAM} daemon [options]\n  \
           -D            no fork and print all logging to stderr\n  \
           -Q 0|1        quiet error messages for common lock contention (ignored)\n  \
           -R 0|1        renewal debugging (ignored)\n  \
           -H <num>      renewal history size (ignored)\n  \
           -L <pri>      logfile priority (ignored: leased logs to stderr)\n  \
           -S <pri>      syslog priority (ignored: leased logs to stderr)\n  \
           -U <uid>      user id (ignored: leased keeps its user)\n  \
           -G <gid>      group allowed to use the sockets\n  \
           -t <num>      max worker threads (reported only)\n  \
           -g <sec>      seconds for graceful recovery (40)\n  \
           -w 0|1        use the watchdog (1)\n  \
           -h 0|1        use high priority (RR) scheduling (ignored)\n  \
           -l <num>      use mlockall (ignored)\n  \
           -b <sec>      host id bit time (ignored)\n  \
           -o <sec>      io timeout (10; another value is ignored)\n  \
           -e <str>      local host name used in delta leases\n\n\
         {PROGRAM} client status [-D] [-o p|s]\n\
         {PROGRAM} client gets [-h 0|1]\n\
         {PROGRAM} client host_status -s LOCKSPACE [-D]\n\
         {PROGRAM} client renewal -s LOCKSPACE\n\
         {PROGRAM} client set_event -s LOCKSPACE -i <host_id> [-g gen] -e <event> -d <data>\n\
         {PROGRAM} client set_config -s LOCKSPACE [-u 0|1] [-O 0|1]\n\
         {PROGRAM} client log_dump\n\
         {PROGRAM} client shutdown [-f 0|1] [-w 0|1]\n\
         {PROGRAM} client init -s LOCKSPACE | -r RESOURCE [-z 0|1] [-Z 512|4096 -A 1M|2M|4M|8M]\n\
         {PROGRAM} client read -s LOCKSPACE | -r RESOURCE [-D]\n\
         {PROGRAM} client add_lockspace -s LOCKSPACE [-o <io_timeout>]\n\
         {PROGRAM} client inq_lockspace -s LOCKSPACE\n\
         {PROGRAM} client rem_lockspace -s LOCKSPACE\n\
         {PROGRAM} client command -r RESOURCE -c <path> <args>\n\
         {PROGRAM} client acquire -r RESOURCE -p <pid>\n\
         {PROGRAM} client convert -r RESOURCE -p <pid>\n\
         {PROGRAM} client release -r RESOURCE -p <pid>\n\
         {PROGRAM} client inquire -p <pid>\n\
         {PROGRAM} client request -r RESOURCE -f <force_mode>\n\
         {PROGRAM} client examine -r RESOURCE | -s LOCKSPACE\n\
         {PROGRAM} client format -x RINDEX [-Z 512|4096 -A 1M|2M|4M|8M]\n\
         {PROGRAM} client create -x RINDEX -e <resource_name>\n\
         {PROGRAM} client delete -x RINDEX -e <resource_name>[:<offset>]\n\
         {PROGRAM} client lookup -x RINDEX [-e <resource_name>:<offset>]\n\
         {PROGRAM} client update -x RINDEX -e <resource_name>[:<offset>] [-z 0|1]\n\
         {PROGRAM} client rebuild -x RINDEX\n\n\
         {PROGRAM} direct init -s LOCKSPACE | -r RESOURCE [-o <io_timeout>] [-n <num_hosts>] [-Z 512|4096 -A 1M|2M|4M|8M]\n\
         {PROGRAM} direct read_leader -s LOCKSPACE | -r RESOURCE\n\
         {PROGRAM} direct dump <path>[:<offset>[:<size>]]\n\n\
         LOCKSPACE = <lockspace_name>:<host_id>:<path>:<offset>\n\
         RESOURCE = <lockspace_name>:<resource_name>:<path>:<offset>[:<lver>|:SH]\n\
         RINDEX = <lockspace_name>:<path>:<offset>\n\
         (offsets in bytes, or with a K, M or G suffix; a ':' in a path is written '\\:')\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// leased-sanlock(8): what the personality accepts and where it differs
/// from sanlock 3.8.5.
pub fn man_page() -> String {
    let synopsis = usage().replace('\\', "\\e").replace('-', "\\-");
    format!(
        ".TH LEASED\\-SANLOCK 8 \"\" \"lease {version}\" \"System Administration\"\n\
         .SH NAME\nleased\\-sanlock \\- leased and lease run as sanlock(8)\n\
         .SH DESCRIPTION\n\
         Run through a link named \\fBsanlock\\fR (ln \\-s /usr/sbin/leased /usr/sbin/sanlock), \
         leased (or lease) takes sanlock 3.8's command line, so that scripts, packaging and \
         sanlock's own test suite use it unchanged. \\fBsanlock client\\fR speaks sanlock's \
         socket protocol on $SANLOCK_RUN_DIR/sanlock.sock (default /run/sanlock) and works \
         against leased and against a real sanlock daemon alike. What each verb prints, and its \
         exit status (0, or 1 for any failure), are Debian's sanlock 3.8.5's.\n\
         .SH SYNOPSIS\n.nf\n{synopsis}.fi\n\
         .SH \"DIFFERENCES FROM SANLOCK\"\n\
         .TP\n.B sanlock daemon\n\
         Runs leased with run_dir and sanlock_run_dir set to $SANLOCK_RUN_DIR (default \
         /run/sanlock). The state directory is $SANLOCK_RUN_DIR too when that variable is set \
         (tests); otherwise it is leased's own (/var/lib/leased, or $LEASED_STATE_DIR), since \
         /run is emptied at boot. \\-w 0 means watchdog \"none\", \\-w 1 \"auto\"; \\-e sets \
         host_name, \\-G socket_group, \\-g kill_grace; \\-t is only reported by status \
         (max_worker_threads). \\-o other than 10 and \\-l, \\-h, \\-U, \\-Q, \\-R, \\-H, \
         \\-b, \\-L, \\-S are accepted and logged as ignored. Without \\-D the daemon forks \
         into the background and the command exits 0 once it is ready, 1 if it fails; its stdio \
         then goes to /dev/null (use \\-D to see the log). Every start failure, including \
         another daemon holding the run directory, exits 1.\n\
         .TP\n.B sanlock direct init\n\
         Overwrites what the area holds, as sanlock does (lease direct init refuses without \
         \\-\\-force). A resource gets every ballot block its area holds unless \\-n says \
         otherwise.\n\
         .TP\n.B sanlock direct dump\n\
         Prints sanlock's columns; \\-Z and \\-A are accepted, each area's leader gives its \
         geometry. Damaged records are also reported on stderr.\n\
         .TP\n.B Errors\n\
         sanlock prints only a result number; the personality prints the same number on stdout \
         and, where it has one, the reason on stderr (never for client lookup, whose stderr \
         scripts expect empty).\n\
         .TP\n.B Not provided\n\
         direct acquire, release, acquire_id, renew_id, release_id (use lease direct), and the \
         direct rindex verbs.\n\
         .SH \"SEE ALSO\"\n.BR leased (8),\n.BR lease (8),\n.BR sanlock (8)\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|&a| a.to_owned()).collect()
    }

    #[test]
    fn options_take_values_apart_or_joined() {
        let parsed =
            Options::parse(&strings(&["-s", "a:1:/p:0", "-o1", "-D", "word"]), "so", "D", None)
                .unwrap();
        assert_eq!(parsed.get('s'), Some("a:1:/p:0"));
        assert_eq!(parsed.number::<u32>('o', "a number").unwrap(), Some(1));
        assert!(parsed.has('D'));
        assert_eq!(parsed.words, ["word"]);
        assert_eq!(
            Options::parse(&strings(&["-X", "1"]), "s", "", None),
            Err(UsageError::Unknown('X'))
        );
        assert_eq!(Options::parse(&strings(&["-s"]), "s", "", None), Err(UsageError::NoValue('s')));
    }

    #[test]
    fn command_takes_the_rest_as_words() {
        let args = strings(&["-r", "l:r:/p:0", "-c", "/bin/sleep", "-s", "30"]);
        let parsed = Options::parse(&args, "rc", "", Some('c')).unwrap();
        assert_eq!(parsed.get('c'), Some("/bin/sleep"));
        assert_eq!(parsed.words, ["-s", "30"]);
    }

    #[test]
    fn rindex_entries() {
        assert_eq!(rindex_entry(None).unwrap(), (Name::EMPTY, 0));
        assert_eq!(rindex_entry(Some("res")).unwrap(), (Name::new("res").unwrap(), 0));
        assert_eq!(rindex_entry(Some("res:3M")).unwrap(), (Name::new("res").unwrap(), 3 << 20));
        assert!(rindex_entry(Some("res:x")).is_err());
        assert!(rindex_entry(Some(&"n".repeat(49))).is_err());
    }

    #[test]
    fn argv0_selects_the_personality() {
        assert!(invoked_as_sanlock(Some(&OsString::from("/usr/sbin/sanlock"))));
        assert!(invoked_as_sanlock(Some(&OsString::from("sanlock"))));
        assert!(!invoked_as_sanlock(Some(&OsString::from("/usr/sbin/leased"))));
        assert!(!invoked_as_sanlock(None));
    }
}
