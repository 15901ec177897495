//! `lease index`: a lockspace's name index, where leases are found by name.

use clap::{Args, Subcommand};

use super::client::{connect, parse_named};
use super::exit;
use super::output::{Failure, print, print_either, print_json, table};
use crate::api::results::{IndexEntry, IndexReply};

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Write a lockspace's name index, right after its area (the lockspace is joined here)
    Format(FormatArgs),
    /// List the names in a lockspace's name index
    List(ListArgs),
    /// Add a name and its lease to the index (an existing name is reported, not added twice)
    Create(NameArgs),
    /// Remove a name nobody holds from the index, and clear its lease
    Delete(NameArgs),
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// The lockspace's name
    #[arg(value_name = "LOCKSPACE")]
    lockspace: String,
    /// Names the index holds [default: 4096]
    #[arg(long, value_name = "COUNT")]
    max_names: Option<u32>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// A lockspace, to list what its index holds (names, groups).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The lockspace's name
    #[arg(value_name = "LOCKSPACE")]
    pub(super) lockspace: String,
    /// Print JSON
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The name, 1 to 1024 bytes (over 48 stored hashed)
    #[arg(value_name = "LOCKSPACE:NAME", value_parser = parse_named)]
    name: (String, String),
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub fn run(command: &IndexCommand) -> Result<u8, Failure> {
    match command {
        IndexCommand::Format(args) => {
            let mut client = connect(args.json)?;
            let reply = client
                .index_format(&args.lockspace, args.max_names)
                .map_err(|e| Failure::client(&e).json(args.json))?;
            let text = format!(
                "name index of lockspace {} written at offset {}\n",
                reply.lockspace, reply.offset
            );
            print_either(args.json, &reply, &text)?;
        }
        IndexCommand::List(args) => {
            let mut client = connect(args.json)?;
            let reply = client
                .index_list(&args.lockspace)
                .map_err(|e| Failure::client(&e).json(args.json))?;
            report_list(&reply, args.json)?;
        }
        IndexCommand::Create(args) => {
            let (lockspace, name) = &args.name;
            let mut client = connect(args.json)?;
            let reply = client
                .index_create(lockspace, name)
                .map_err(|e| Failure::client(&e).json(args.json))?;
            let verb = if reply.created { "created" } else { "exists" };
            print_either(args.json, &reply, &format!("{verb} {}\n", described(&reply.entry)))?;
        }
        IndexCommand::Delete(args) => {
            let (lockspace, name) = &args.name;
            let mut client = connect(args.json)?;
            let entry = client
                .index_delete(lockspace, name)
                .map_err(|e| Failure::client(&e).json(args.json))?;
            print_either(args.json, &entry, &format!("deleted {}\n", described(&entry)))?;
        }
    }
    Ok(exit::OK)
}

fn described(entry: &IndexEntry) -> String {
    format!("'{}' at {}:{}", entry.name, entry.path, entry.offset)
}

fn report_list(reply: &IndexReply, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(reply);
    }
    let rows: Vec<Vec<String>> = reply
        .names
        .iter()
        .map(|e| vec![e.offset.to_string(), e.stored.clone(), e.name.clone()])
        .collect();
    print(&table(&["OFFSET", "STORED", "NAME"], &rows))
}
