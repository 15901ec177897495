//! Man pages and shell completions, generated from the argument definitions
//! so they cannot drift from the command line. `lease generate man DIR`
//! writes them; a test fails when the copies in `man/` and `completions/`
//! are stale.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;
use clap_mangen::Man;

use super::Cli;
use super::exit;
use super::output::Failure;

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Write the man pages into DIR
    Man { dir: PathBuf },
    /// Write completion scripts for bash, zsh and fish into DIR
    Completions { dir: PathBuf },
}

pub fn run(command: GenerateCommand) -> Result<u8, Failure> {
    let written = match command {
        GenerateCommand::Man { dir } => write_files(&dir, &man_pages()),
        GenerateCommand::Completions { dir } => write_files(&dir, &completions()),
    };
    written.map_err(|err| Failure::new(exit::IO, "io", err.to_string()))?;
    Ok(exit::OK)
}

fn write_files(dir: &Path, files: &[(String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in files {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// Every man page, as (file name, roff text).
pub fn man_pages() -> Vec<(String, String)> {
    vec![("lease.8".to_owned(), lease_man_page())]
}

/// Every completion script, as (file name, script).
pub fn completions() -> Vec<(String, String)> {
    [(Shell::Bash, "lease.bash"), (Shell::Zsh, "_lease"), (Shell::Fish, "lease.fish")]
        .into_iter()
        .map(|(shell, file)| {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "lease", &mut script);
            (file.to_owned(), String::from_utf8(script).expect("completion scripts are UTF-8"))
        })
        .collect()
}

const SPEC_STRINGS: &str = r#".SH "SPEC STRINGS"
Lockspaces and resources are named as sanlock names them:
.TP
.I LOCKSPACE
NAME:HOST_ID:PATH:OFFSET
.TP
.I RESOURCE
LOCKSPACE:NAME:PATH:OFFSET[:LVER|:SH]
.PP
Names are at most 48 bytes, paths at most 1024. A colon inside a field is
written \e: and a backslash \e\e. OFFSET is in bytes (a K, M or G suffix
multiplies by 1024, 1024\(ha2 or 1024\(ha3) and must be a multiple of the
area's align size. For
.B direct init
the HOST_ID of a lockspace spec is ignored (0 by convention).
.SH GEOMETRY
An area is exactly one align size long. Valid sector/align pairs and the
host_ids they hold: 512/1M 2000; 4096/1M 250; 4096/2M 500; 4096/4M 1000;
4096/8M 2000. Without
.BR \-\-align ,
512\-byte sectors take 1M and 4096\-byte sectors 8M, as in sanlock.
"#;

const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
.B 0
Success.
.TP
.B 1
Refused: the request was valid but not granted (for example, init of an
area that already holds lease records, without \-\-force).
.TP
.B 2
Usage error: invalid arguments, spec strings, offsets or sizes.
.TP
.B 65
Data error: the disk does not hold the lease area expected, or a record is
damaged (bad magic, version or checksum). The error names path and offset;
nothing is repaired.
.TP
.B 69
The daemon could not be reached.
.TP
.B 70
Internal error.
.TP
.B 74
I/O error: the file or device could not be opened, read or written
(including files on tmpfs, which has no direct I/O).
.TP
.B 75
Temporary failure, such as an I/O timeout: retrying may succeed.
.TP
.B 77
Permission denied.
"#;

const EXAMPLES: &str = r#".SH EXAMPLES
Create a 2 MiB lease file, a lockspace at offset 0 and a resource at 1 MiB:
.PP
.nf
.RS
dd if=/dev/zero of=/var/lib/leases.img bs=1M count=2 oflag=direct
lease direct init \-s vms:0:/var/lib/leases.img:0
lease direct init \-r vms:vm1:/var/lib/leases.img:1M
lease direct dump /var/lib/leases.img
lease direct read\-leader \-r vms:vm1:/var/lib/leases.img:1M \-\-json
.RE
.fi
.SH NOTES
All I/O is direct (O_DIRECT) with deadlines, so what one host reads is what
the others wrote, never a cached copy. Areas written by
.B lease
are read by
.BR sanlock (8)
and the other way round.
.SH "SEE ALSO"
.BR sanlock (8)
"#;

fn lease_man_page() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let man = Man::new(cmd.clone()).title("LEASE").section("8").manual("System Administration");
    let mut page = String::new();
    for render in [
        Man::render_title,
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
    ] {
        page.push_str(&roff_part(&man, render));
    }
    page.push_str(".SH COMMANDS\n");
    for sub in leaf_commands(&cmd, "lease") {
        render_command(&mut page, &sub);
    }
    for section in [SPEC_STRINGS, EXIT_STATUS, EXAMPLES] {
        page.push_str(section);
    }
    page.push_str(&roff_part(&man, Man::render_version_section));
    format!("{ROFF_PREAMBLE}{page}")
}

/// clap_mangen starts every rendered part with these two lines, which only
/// need to appear once, at the top of the page.
const ROFF_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

type Render = fn(&Man, &mut dyn std::io::Write) -> std::io::Result<()>;

/// One part of a page, without the preamble.
fn roff_part(man: &Man, render: Render) -> String {
    let mut part = Vec::new();
    render(man, &mut part).expect("render to memory");
    let text = String::from_utf8(part).expect("man pages are UTF-8");
    text.strip_prefix(ROFF_PREAMBLE).expect("clap_mangen writes its preamble first").to_owned()
}

/// Visible commands with no subcommands, each named by its full path.
fn leaf_commands(cmd: &clap::Command, path: &str) -> Vec<clap::Command> {
    let mut leaves = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{path} {}", sub.get_name());
        if sub.has_subcommands() {
            leaves.extend(leaf_commands(sub, &name));
        } else {
            leaves.push(sub.clone().bin_name(name));
        }
    }
    leaves
}

/// One command's subsection: synopsis, description and options.
fn render_command(page: &mut String, cmd: &clap::Command) {
    let name = cmd.get_bin_name().expect("leaf commands carry their full name");
    page.push_str(&format!(".SS \"{name}\"\n"));
    let man = Man::new(cmd.clone());
    for render in
        [Man::render_synopsis_section, Man::render_description_section, Man::render_options_section]
    {
        // Each part comes with its own .SH heading; inside a subsection only
        // the body is wanted.
        let part = roff_part(&man, render);
        let body = part.split_once('\n').map_or("", |(_, body)| body);
        page.push_str(body);
        page.push_str(".PP\n");
    }
}
